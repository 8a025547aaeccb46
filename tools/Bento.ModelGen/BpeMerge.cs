namespace Bento.ModelGen;

/// <summary>One learned BPE merge: the adjacent symbols <see cref="Left"/> and <see cref="Right"/>
/// (byte-level strings) become the single symbol Left + Right.</summary>
public readonly record struct BpeMerge(string Left, string Right)
{
    public string Merged => Left + Right;
}

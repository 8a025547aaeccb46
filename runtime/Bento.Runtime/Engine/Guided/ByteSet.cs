namespace Bento.Runtime.Engine.Guided;

/// <summary>A set of byte values (256 bits), the label of one automaton edge.</summary>
internal readonly record struct ByteSet(ulong W0, ulong W1, ulong W2, ulong W3)
{
    public static ByteSet Of(byte b) => Range(b, b);

    public static ByteSet Range(int from, int to)
    {
        ulong w0 = 0, w1 = 0, w2 = 0, w3 = 0;
        for (var b = from; b <= to; b++)
        {
            var bit = 1UL << (b & 63);
            switch (b >> 6)
            {
                case 0: w0 |= bit; break;
                case 1: w1 |= bit; break;
                case 2: w2 |= bit; break;
                default: w3 |= bit; break;
            }
        }
        return new ByteSet(w0, w1, w2, w3);
    }

    public bool Contains(byte b) => ((b >> 6) switch { 0 => W0, 1 => W1, 2 => W2, _ => W3 } & (1UL << (b & 63))) != 0;

    public bool IsEmpty => (W0 | W1 | W2 | W3) == 0;

    public ByteSet Union(ByteSet o) => new(W0 | o.W0, W1 | o.W1, W2 | o.W2, W3 | o.W3);

    public ByteSet Except(ByteSet o) => new(W0 & ~o.W0, W1 & ~o.W1, W2 & ~o.W2, W3 & ~o.W3);
}

using Bento.ModelGen;

namespace Bento.Trainer;

/// <summary>
/// Corpus lines tokenized and packed into one stream, each line as
/// <c>&lt;|begin_of_text|&gt; line &lt;|end_of_text|&gt;</c>, the way a prompt reaches the model at inference
/// (the tokenizer's post-processor prepends &lt;|begin_of_text|&gt;) and the way a completion ends.
/// Training windows always start at a line's &lt;|begin_of_text|&gt;, so position 0 of a window looks like
/// position 0 of a prompt; a window runs on across the following lines until it is full.
/// </summary>
public sealed class PackedCorpus
{
    private readonly int[] _tokens;
    private readonly int[] _lineStarts;

    private PackedCorpus(int[] tokens, int[] lineStarts, int lines)
    {
        _tokens = tokens;
        _lineStarts = lineStarts;
        LineCount = lines;
    }

    public int LineCount { get; }
    public int TokenCount => _tokens.Length;
    public ReadOnlySpan<int> Tokens => _tokens;

    public static PackedCorpus Build(LlamaTokenizer tokenizer, IEnumerable<string> lines)
    {
        var tokens = new List<int>();
        var starts = new List<int>();
        // The corpus repeats lines a lot (counting from 1, Q/A templates): encode each distinct line once.
        var cache = new Dictionary<string, int[]>(StringComparer.Ordinal);
        var count = 0;
        foreach (var line in lines)
        {
            if (!cache.TryGetValue(line, out var ids))
                cache[line] = ids = tokenizer.Encode(line, addBeginOfText: false);
            starts.Add(tokens.Count);
            tokens.Add(tokenizer.BeginOfTextId);
            tokens.AddRange(ids);
            tokens.Add(tokenizer.EndOfTextId);
            count++;
        }
        return new PackedCorpus(tokens.ToArray(), starts.ToArray(), count);
    }

    /// <summary>
    /// One batch of <paramref name="batchSize"/> windows of <paramref name="length"/> + 1 tokens, each starting at
    /// a random line start (drawn from <paramref name="random"/>): row-major [batch, length + 1] int64, inputs are
    /// columns [0, length), targets [1, length].
    /// </summary>
    public long[] SampleWindows(DeterministicRandom random, int batchSize, int length)
    {
        var window = length + 1;
        // Line starts whose window fits in the stream (the stream is far longer than a window).
        var usable = UsableStarts(window);
        var batch = new long[batchSize * window];
        for (var b = 0; b < batchSize; b++)
        {
            var start = _lineStarts[random.NextInt(usable)];
            for (var t = 0; t < window; t++)
                batch[b * window + t] = _tokens[start + t];
        }
        return batch;
    }

    /// <summary>Consecutive windows from the beginning (a fixed evaluation set): up to <paramref name="count"/>
    /// windows of <paramref name="length"/> + 1 tokens starting at successive line starts spaced a window apart.</summary>
    public long[] FixedWindows(int count, int length)
    {
        var window = length + 1;
        var usable = UsableStarts(window);
        var rows = new List<long>();
        var line = 0;
        for (var b = 0; b < count && line < usable; b++)
        {
            var start = _lineStarts[line];
            for (var t = 0; t < window; t++)
                rows.Add(_tokens[start + t]);
            // Next window starts at the first line that begins after this one ends.
            while (line < usable && _lineStarts[line] < start + window) line++;
        }
        return rows.ToArray();
    }

    private int UsableStarts(int window)
    {
        var usable = _lineStarts.Length;
        while (usable > 0 && _lineStarts[usable - 1] + window > _tokens.Length) usable--;
        if (usable == 0)
            throw new ArgumentException($"the corpus ({_tokens.Length} tokens) is shorter than one window of {window} tokens");
        return usable;
    }
}

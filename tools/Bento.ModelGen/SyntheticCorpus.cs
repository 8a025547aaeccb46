using System.Text;

namespace Bento.ModelGen;

/// <summary>
/// Deterministic English-like training text: counting sequences, templated sentences and short Q/A
/// lines, one per line.
/// </summary>
/// <remarks>
/// The example model is later trained on this text and judged by whether greedy decoding of "1 2 3 4"
/// continues "5 6 7", so counting up by one (often from 1) is the largest share. The rest gives the
/// tokenizer ordinary words and punctuation to learn merges for.
/// </remarks>
public static class SyntheticCorpus
{
    public const int DefaultLineCount = 4000;

    private static readonly string[] Animals = ["cat", "dog", "bird", "fox", "cow", "duck", "frog", "horse"];
    private static readonly string[] Places = ["mat", "rug", "box", "bed", "log", "chair", "hill", "wall"];
    private static readonly string[] Actions = ["sat on", "slept on", "ran to", "looked at", "jumped over", "walked past"];
    private static readonly string[] Movers = ["dog", "cat", "child", "boy", "girl", "man", "woman"];
    private static readonly string[] Moves = ["runs", "plays", "walks", "sits", "sings", "reads"];
    private static readonly string[] Outdoors = ["park", "garden", "house", "yard", "field", "room"];
    private static readonly string[] Names = ["Alice", "Bob", "Tom", "Mia", "Sam", "Emma", "Leo", "Nina"];
    private static readonly string[] Things = ["apples", "books", "cats", "pens", "coins", "cups", "hats", "eggs"];
    private static readonly string[] Colors = ["red", "blue", "green", "yellow", "black", "white"];
    private static readonly string[] Toys = ["ball", "hat", "car", "kite", "bike", "boat"];

    /// <summary>The corpus as one string, lines separated by '\n' (with a final '\n').</summary>
    public static string Generate(ulong seed = 42, int lineCount = DefaultLineCount)
    {
        var text = new StringBuilder();
        foreach (var line in Lines(seed, lineCount))
            text.Append(line).Append('\n');
        return text.ToString();
    }

    /// <summary>The corpus line by line: about 60% counting, 20% sentences, 20% questions.</summary>
    public static IEnumerable<string> Lines(ulong seed = 42, int lineCount = DefaultLineCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lineCount);
        var random = new DeterministicRandom(seed);
        for (var i = 0; i < lineCount; i++)
        {
            var kind = random.NextInt(10);
            yield return kind switch
            {
                < 6 => CountingLine(random),
                < 8 => Sentence(random),
                _ => Question(random),
            };
        }
    }

    private static string CountingLine(DeterministicRandom random)
    {
        var kind = random.NextInt(10);
        int start, step, length;
        if (kind < 7)
        {
            // Up by one; a third of these start at 1 so "1 2 3 4 5 ..." is the most common line of all.
            step = 1;
            start = random.NextInt(3) == 0 ? 1 : random.NextInt(0, 60);
            length = random.NextInt(5, 13);
        }
        else if (kind < 9)
        {
            step = -1;
            length = random.NextInt(4, 11);
            start = random.NextInt(length - 1, 40);
        }
        else
        {
            step = 2;
            start = random.NextInt(0, 40);
            length = random.NextInt(4, 11);
        }
        return string.Join(' ', Enumerable.Range(0, length).Select(k => start + k * step));
    }

    private static string Sentence(DeterministicRandom random) => random.NextInt(5) switch
    {
        0 => $"The {Pick(random, Animals)} {Pick(random, Actions)} the {Pick(random, Places)}.",
        1 => $"A {Pick(random, Movers)} {Pick(random, Moves)} in the {Pick(random, Outdoors)}.",
        2 => $"{Pick(random, Names)} has {random.NextInt(2, 13)} {Pick(random, Things)}.",
        3 => $"{Pick(random, Names)} likes the {Pick(random, Colors)} {Pick(random, Toys)}.",
        _ => $"{Pick(random, Names)} and {Pick(random, Names)} went to the {Pick(random, Outdoors)}.",
    };

    private static string Question(DeterministicRandom random)
    {
        switch (random.NextInt(4))
        {
            case 0:
            case 1:
                var n = random.NextInt(0, 50);
                return $"Q: What comes after {n}? A: {n + 1}";
            case 2:
                var m = random.NextInt(1, 50);
                return $"Q: What comes before {m}? A: {m - 1}";
            default:
                var a = random.NextInt(1, 10);
                var b = random.NextInt(1, 10);
                return $"Q: What is {a} plus {b}? A: {a + b}";
        }
    }

    private static string Pick(DeterministicRandom random, string[] words) => words[random.NextInt(words.Length)];
}

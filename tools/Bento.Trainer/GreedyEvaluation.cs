using Bento.Runtime.Model;
using Bento.Runtime.Tokenization;

namespace Bento.Trainer;

/// <summary>A prompt and, for checks, the text its greedy continuation must start with.</summary>
public sealed record EvaluationPrompt(string Prompt, string? ExpectedStart = null);

public sealed record EvaluationOutcome(string Prompt, string Continuation, string? ExpectedStart)
{
    public bool IsCheck => ExpectedStart is not null;
    public bool Passed => ExpectedStart is null || Continuation.StartsWith(ExpectedStart, StringComparison.Ordinal);
}

/// <summary>
/// Greedy decoding of a model folder through the serving path: the runtime's tokenizer (tokenizer.json, with the
/// &lt;|begin_of_text|&gt; its post-processor adds) and <see cref="EagerModelRunner"/> with its KV cache, exactly as
/// `bento serve` runs it.
/// </summary>
public static class GreedyEvaluation
{
    /// <summary>What the example must do: count on.</summary>
    public static readonly IReadOnlyList<EvaluationPrompt> CountingChecks =
    [
        new("1 2 3 4", " 5 6 7"),
        new("10 11 12", " 13 14"),
    ];

    /// <summary>Shown, not checked: the rest of the corpus' kinds of line.</summary>
    public static readonly IReadOnlyList<EvaluationPrompt> Samples =
    [
        new("20 21 22 23"),
        new("9 8 7 6"),
        new("The cat sat on the"),
        new("Alice likes the"),
        new("Tom and Mia went to the"),
        new("Q: What comes after 7? A:"),
        new("Q: What is 2 plus 3? A:"),
    ];

    public static IReadOnlyList<EvaluationOutcome> Run(string modelDirectory, IEnumerable<EvaluationPrompt> prompts, int threads, int maxNewTokens = 12)
    {
        var tokenizer = HfTokenizer.Load(modelDirectory);
        using var runner = EagerModelRunner.Open(modelDirectory, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 128, Threads = threads });
        return prompts.Select(p => new EvaluationOutcome(p.Prompt, Continue(runner, tokenizer, p.Prompt, maxNewTokens), p.ExpectedStart)).ToList();
    }

    /// <summary>The greedy continuation of <paramref name="prompt"/> (up to a stop token), as text.</summary>
    public static string Continue(IModelRunner runner, HfTokenizer tokenizer, string prompt, int maxNewTokens)
    {
        var ids = tokenizer.Encode(prompt, addSpecialTokens: true).ToArray();
        var generated = new List<int>();
        var logits = runner.Step([new StepInput(0, 0, ids)]);
        var position = ids.Length;
        for (var i = 0; i < maxNewTokens; i++)
        {
            var next = ArgMax(logits);
            if (tokenizer.StopTokenIds.Contains(next)) break;
            generated.Add(next);
            if (position + 1 > runner.MaxSequenceLength) break;
            logits = runner.Step([new StepInput(0, position++, new[] { next })]);
        }
        return tokenizer.Decode(generated, skipSpecialTokens: true);
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }
}

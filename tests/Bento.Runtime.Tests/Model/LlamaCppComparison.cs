using Bento.Runtime.Model;
using static Bento.Runtime.Tests.Model.ModelTestSupport;

namespace Bento.Runtime.Tests.Model;

/// <summary>
/// Runs our runner on a model folder and llama.cpp on a GGUF export of (usually) the same folder, greedily, each step
/// continuing with llama.cpp's token so one near-tie cannot derail the rest, and records how far apart they are.
/// </summary>
internal static class LlamaCppComparison
{
    public sealed record Result(int Steps, float WorstRelativeDiff, float FirstRelativeDiff, float SmallestMargin, List<int> OurTokens, List<int> ReferenceTokens)
    {
        public bool TokensAgree => OurTokens.SequenceEqual(ReferenceTokens);

        public override string ToString() =>
            $"{Steps} greedy steps, worst max|diff|/(1+scale) = {WorstRelativeDiff:E2} (first step {FirstRelativeDiff:E2}), " +
            $"smallest top-1 margin {SmallestMargin:E2}, tokens {(TokensAgree ? "identical" : "differ")}";
    }

    /// <param name="ourModel">The folder our runner serves.</param>
    /// <param name="referenceModel">The folder exported to GGUF for llama.cpp (null: the same).</param>
    /// <param name="context">Both sides' context (our max sequence length, llama.cpp's n_ctx): LongRoPE picks its
    /// factors by it.</param>
    public static Result Run(string ourModel, int[] prompt, int steps, string? referenceModel = null, int context = 256)
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var gguf = Path.Combine(temp.Path, "model-f32.gguf");
        LlamaGgufExporter.Export(referenceModel ?? ourModel, gguf, GgmlType.F32);

        using var ours = EagerModelRunner.Open(ourModel, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = context });
        using var reference = new LlamaCppReference(gguf, contextSize: context);
        Assert.Equal(ours.VocabSize, reference.VocabSize);

        var ourRow = ours.Step([new StepInput(0, 0, prompt)]);
        var refRow = reference.Decode(prompt, 0);
        var position = prompt.Length;
        float worst = 0, first = 0, minMargin = float.MaxValue;
        var ourTokens = new List<int>();
        var refTokens = new List<int>();
        for (var step = 0; step < steps; step++)
        {
            var relative = MaxAbsDiff(ourRow, refRow) / (1 + MaxAbs(refRow));
            if (step == 0) first = relative;
            worst = Math.Max(worst, relative);
            var refNext = ArgMax(refRow);
            ourTokens.Add(ArgMax(ourRow));
            refTokens.Add(refNext);
            minMargin = Math.Min(minMargin, Margin(refRow));
            if (step + 1 == steps) break;
            ourRow = ours.Step([new StepInput(0, position, new[] { refNext })]);
            refRow = reference.Decode([refNext], position);
            position++;
        }
        return new Result(steps, worst, first, minMargin, ourTokens, refTokens);
    }

    private static float Margin(float[] row)
    {
        float best = float.MinValue, second = float.MinValue;
        foreach (var v in row)
        {
            if (v > best) { second = best; best = v; }
            else if (v > second) second = v;
        }
        return best - second;
    }
}

using Bento.Runtime.Engine;
using Bento.Runtime.Engine.Guided;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Engine.Guided;

/// <summary>
/// Stands in for a model with random weights: each step draws random logits, lets the constraint mask them, and
/// samples (softmax) among what is left — the same path the engine takes, minus the forward pass.
/// </summary>
internal static class GuidedWalk
{
    public sealed record Result(string Text, IReadOnlyList<int> Ids, bool Finished);

    public static Result Run(GuidedConstraint compiled, ITextTokenizer tokenizer, int seed, int maxTokens, int? vocab = null)
    {
        var constraint = compiled.Start();
        var random = new Random(seed);
        var logits = new float[vocab ?? tokenizer.VocabSize];
        var ids = new List<int>();
        for (var step = 0; step < maxTokens; step++)
        {
            for (var i = 0; i < logits.Length; i++) logits[i] = (float)(random.NextDouble() * 6);
            constraint.Apply(logits);
            var token = Sample(logits, random);
            if (tokenizer.StopTokenIds.Contains(token))
                return new Result(tokenizer.Decode(ids), ids, Finished: true);
            constraint.Advance(token);
            ids.Add(token);
        }
        return new Result(tokenizer.Decode(ids), ids, Finished: false);
    }

    private static int Sample(float[] logits, Random random)
    {
        double total = 0;
        foreach (var l in logits) if (!float.IsNegativeInfinity(l)) total += Math.Exp(l);
        Assert.True(total > 0, "the constraint left no token to choose");
        var target = random.NextDouble() * total;
        for (var i = 0; i < logits.Length; i++)
        {
            if (float.IsNegativeInfinity(logits[i])) continue;
            target -= Math.Exp(logits[i]);
            if (target <= 0) return i;
        }
        return Array.FindLastIndex(logits, l => !float.IsNegativeInfinity(l));
    }
}

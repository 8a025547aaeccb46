using Bento.Runtime.Engine;

namespace Bento.Runtime.Tests.Engine;

/// <summary>
/// The sampler's filters against their definitions computed the slow way (the whole vocabulary sorted), on
/// vocabularies of a real size: top-k keeps exactly the k largest (and ties at the k-th value), top-p exactly the
/// nucleus, and the draw follows the renormalised probabilities.
/// </summary>
public sealed class SamplerTests
{
    private const int Vocab = 128_256; // Llama 3's

    private static float[] RandomLogits(int seed, int vocab = Vocab, double scale = 4)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, vocab).Select(_ => (float)(random.NextDouble() * 2 - 1) * (float)scale).ToArray();
    }

    /// <summary>The nucleus by its definition: descending probabilities, up to the first reaching top_p.</summary>
    private static HashSet<int> ReferenceNucleus(float[] logits, float temperature, float topP, int topK = 0)
    {
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ToList();
        if (topK > 0)
        {
            var kth = logits[order[topK - 1]];
            order = order.Where(i => logits[i] >= kth).ToList();
        }
        var max = logits[order[0]];
        var probs = order.Select(i => Math.Exp((logits[i] - max) / temperature)).ToList();
        var total = probs.Sum();
        var nucleus = new HashSet<int>();
        double cumulative = 0;
        for (var j = 0; j < order.Count; j++)
        {
            nucleus.Add(order[j]);
            cumulative += probs[j] / total;
            if (cumulative >= topP) break;
        }
        return nucleus;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(50)]
    [InlineData(1000)]
    public void Top_k_keeps_exactly_the_k_largest_logits(int k)
    {
        var logits = RandomLogits(k);
        var allowed = Enumerable.Range(0, Vocab).OrderByDescending(i => logits[i]).Take(k).ToHashSet();
        var random = new Random(3);
        var p = new SamplingParams { Temperature = 5, TopK = k }; // hot: the draws spread over the whole top k
        var drawn = Enumerable.Range(0, 400).Select(_ => Sampler.Sample(logits, p, random, null)).ToHashSet();
        Assert.Subset(allowed, drawn);
        if (k <= 7) Assert.Equal(allowed, drawn);
    }

    [Fact]
    public void Top_k_keeps_ties_at_the_kth_value()
    {
        var logits = new float[Vocab];
        logits[10] = 3;
        logits[20] = 2;
        logits[30] = 2;
        logits[40] = 2; // k = 2 cuts inside the tie at 2: all three stay, as vLLM's mask keeps them
        var random = new Random(1);
        var drawn = Enumerable.Range(0, 500).Select(_ => Sampler.Sample(logits, new SamplingParams { Temperature = 1, TopK = 2 }, random, null)).ToHashSet();
        Assert.Equal(new HashSet<int> { 10, 20, 30, 40 }, drawn);
    }

    [Theory]
    [InlineData(0.1f, 1f, 0)]
    [InlineData(0.5f, 1f, 0)]
    [InlineData(0.9f, 0.7f, 0)]
    [InlineData(0.95f, 0.3f, 40)]
    [InlineData(0.999f, 2f, 0)]   // a flat distribution: the nucleus is most of the vocabulary
    public void Top_p_draws_only_from_the_nucleus_its_definition_gives(float topP, float temperature, int topK)
    {
        var logits = RandomLogits(11);
        var nucleus = ReferenceNucleus(logits, temperature, topP, topK);
        var random = new Random(5);
        var p = new SamplingParams { Temperature = temperature, TopP = topP, TopK = topK };
        var drawn = Enumerable.Range(0, 300).Select(_ => Sampler.Sample(logits, p, random, null)).ToList();
        Assert.All(drawn, t => Assert.Contains(t, nucleus));
        if (nucleus.Count <= 3) Assert.Equal(nucleus, drawn.ToHashSet());
    }

    [Fact]
    public void Draws_follow_the_renormalised_probabilities()
    {
        // Three tokens carry 0.5, 0.3 and 0.2 of the mass (the rest is masked); top_p 0.75 keeps the first two, whose
        // renormalised shares are 0.625 and 0.375.
        var logits = Enumerable.Repeat(float.NegativeInfinity, Vocab).ToArray();
        logits[100] = MathF.Log(0.5f);
        logits[200] = MathF.Log(0.3f);
        logits[300] = MathF.Log(0.2f);
        var random = new Random(9);
        const int draws = 20_000;
        var counts = new Dictionary<int, int>();
        for (var i = 0; i < draws; i++)
        {
            var t = Sampler.Sample(logits, new SamplingParams { Temperature = 1, TopP = 0.75f }, random, null);
            counts[t] = counts.GetValueOrDefault(t) + 1;
        }
        Assert.Equal([100, 200], counts.Keys.Order());
        Assert.InRange(counts[100] / (double)draws, 0.60, 0.65);
        Assert.InRange(counts[200] / (double)draws, 0.35, 0.40);
    }

    [Fact]
    public void Suppressed_and_masked_tokens_are_never_drawn()
    {
        var logits = RandomLogits(2, vocab: 1000);
        var best = Enumerable.Range(0, 1000).MaxBy(i => logits[i]);
        logits[3] = float.NegativeInfinity;
        logits[4] = float.NaN;
        var random = new Random(4);
        var drawn = Enumerable.Range(0, 2000)
            .Select(_ => Sampler.Sample(logits, new SamplingParams { Temperature = 50, TopK = 500, TopP = 0.99f }, random, new HashSet<int> { best }))
            .ToHashSet();
        Assert.DoesNotContain(best, drawn);
        Assert.DoesNotContain(3, drawn);
        Assert.DoesNotContain(4, drawn);
    }

    [Fact]
    public void NaN_and_infinite_logits_pick_sensibly()
    {
        var logits = RandomLogits(5, vocab: 100);
        logits[0] = float.NaN; // a NaN first must not win the greedy pick
        var best = Enumerable.Range(1, 99).MaxBy(i => logits[i]);
        Assert.Equal(best, Sampler.Sample(logits, new SamplingParams { Temperature = 0 }, new Random(1), null));

        logits[42] = float.PositiveInfinity; // outweighs everything, sampled or not
        Assert.Equal(42, Sampler.Sample(logits, new SamplingParams { Temperature = 1, TopP = 0.9f, TopK = 5 }, new Random(1), null));

        // Everything finite suppressed: min_tokens' suppression still holds over the NaN/-inf tokens left.
        var masked = Enumerable.Repeat(float.NegativeInfinity, 10).ToArray();
        masked[3] = 1;
        masked[7] = float.NaN;
        Assert.Equal(0, Sampler.Sample(masked, new SamplingParams { Temperature = 1 }, new Random(1), new HashSet<int> { 3 }));
        Assert.Equal(1, Sampler.Sample(masked, new SamplingParams { Temperature = 1 }, new Random(1), new HashSet<int> { 0, 3 }));

        // A row of NaNs has no answer; the sampler still returns a token id, not -1.
        var broken = Enumerable.Repeat(float.NaN, 10).ToArray();
        Assert.Equal(0, Sampler.Sample(broken, new SamplingParams { Temperature = 1 }, new Random(1), null));
        Assert.Equal(0, Sampler.Sample(broken, new SamplingParams { Temperature = 0 }, new Random(1), null));
    }

    [Fact]
    public void The_same_seed_draws_the_same_tokens()
    {
        var logits = RandomLogits(21, scale: 1);
        var p = new SamplingParams { Temperature = 1, TopP = 0.9f, TopK = 100 };
        int[] Run(int seed)
        {
            var random = new Random(seed);
            return Enumerable.Range(0, 64).Select(_ => Sampler.Sample(logits, p, random, null)).ToArray();
        }
        Assert.Equal(Run(42), Run(42));
        Assert.NotEqual(Run(42), Run(43));
    }

    [Fact]
    public void Kth_largest_agrees_with_sorting_also_with_many_duplicates()
    {
        var random = new Random(8);
        for (var trial = 0; trial < 200; trial++)
        {
            var n = random.Next(1, 3000);
            var distinct = random.Next(1, 50); // few distinct values: long runs of equal logits
            var values = Enumerable.Range(0, n).Select(_ => (float)random.Next(distinct)).ToArray();
            var k = random.Next(1, n + 1);
            var expected = values.OrderByDescending(v => v).ElementAt(k - 1);
            Assert.Equal(expected, Sampler.KthLargest(values.ToArray(), k));
        }
    }
}

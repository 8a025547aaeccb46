using Bento.ModelGen;
using Bento.Runtime.Model;
using Xunit.Abstractions;
using static Bento.Runtime.Tests.Model.ModelTestSupport;

namespace Bento.Runtime.Tests.Model;

/// <summary>
/// Our runner against llama.cpp on the same weights (exported to an F32 GGUF): greedy tokens must be identical and
/// the logits close. Tolerance: max |ours - llama.cpp| over the vocabulary &lt;= 1e-3 x (1 + max |logit|) at every
/// step - both sides compute in float32 (llama.cpp with a float32 KV cache), so differences are summation-order
/// rounding, ~1e-5 in practice.
/// </summary>
[Trait("Category", "Slow")]
public sealed class LlamaCppCrossCheckTests(ITestOutputHelper output)
{
    private const int Steps = 40;

    private void CrossCheck(string modelDir, int[] prompt, string name)
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var gguf = Path.Combine(temp.Path, "model-f32.gguf");
        LlamaGgufExporter.Export(modelDir, gguf, GgmlType.F32);

        using var ours = EagerModelRunner.Open(modelDir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 256 });
        using var reference = new LlamaCppReference(gguf, contextSize: 256);
        Assert.Equal(ours.VocabSize, reference.VocabSize);

        var ourRow = ours.Step([new StepInput(0, 0, prompt)]);
        var refRow = reference.Decode(prompt, 0);
        var position = prompt.Length;
        var worst = 0f;
        var minMargin = float.MaxValue;
        var ourTokens = new List<int>();
        var refTokens = new List<int>();
        for (var step = 0; step < Steps; step++)
        {
            var diff = MaxAbsDiff(ourRow, refRow);
            var scale = MaxAbs(refRow);
            worst = Math.Max(worst, diff / (1 + scale));
            Assert.True(diff <= 1e-4 * (1 + scale), $"{name} step {step}: max |diff| {diff} with logit scale {scale}");
            var ourNext = ArgMax(ourRow);
            var refNext = ArgMax(refRow);
            ourTokens.Add(ourNext);
            refTokens.Add(refNext);
            minMargin = Math.Min(minMargin, Margin(refRow));
            // Both continue with the reference's token so one near-tie could not derail the rest of the comparison;
            // the token equality is asserted below over all steps.
            ourRow = ours.Step([new StepInput(0, position, new[] { refNext })]);
            refRow = reference.Decode([refNext], position);
            position++;
        }
        output.WriteLine($"{name}: {Steps} greedy steps, worst max|diff|/(1+scale) = {worst:E2}, smallest top-1 margin {minMargin:E2}");
        output.WriteLine($"{name}: tokens {string.Join(' ', refTokens)}");
        Assert.Equal(refTokens, ourTokens);
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

    [Fact]
    public void TinyLlamaExampleMatchesLlamaCpp()
    {
        CrossCheck(TinyLlama, [507, 17, 230, 45, 300, 12, 99, 150], "tiny-llama");
    }

    [Fact]
    public async Task RandomModelWithGqaAndTiedEmbeddingsMatchesLlamaCpp()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var dir = Path.Combine(temp.Path, "gqa-tied");
        // normal(0, 0.02) weights give nearly flat logits (greedy picks decided by rounding noise); a 0.15 init gives
        // margins of ~1e-1 between the top candidates, so token identity is a meaningful check.
        var generated = await GenerateAsync(dir, new RandomModelSpec
        {
            HiddenSize = 256, IntermediateSize = 512, Layers = 3, Heads = 8, KeyValueHeads = 2,
            TiedEmbeddings = true, MaxPositionEmbeddings = 256, Seed = 7,
        }, initStd: 0.15);
        Assert.True(generated.Config.TieWordEmbeddings);
        Assert.DoesNotContain(LlamaForCausalLM.WeightNames(ModelConfig.Load(dir)), n => n == "lm_head.weight");
        CrossCheck(dir, [507, 40, 41, 42, 43, 300, 301, 5, 6, 7, 8, 9], "random gqa+tied");
    }

    [Fact]
    public void GgufFileIsWellFormed()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var gguf = Path.Combine(temp.Path, "tiny.gguf");
        LlamaGgufExporter.Export(TinyLlama, gguf, GgmlType.F32);
        using var reference = new LlamaCppReference(gguf, contextSize: 64);
        Assert.Equal(512, reference.VocabSize);
        var bytes = File.ReadAllBytes(gguf);
        Assert.Equal("GGUF"u8.ToArray(), bytes[..4]);
        Assert.Equal(3u, BitConverter.ToUInt32(bytes, 4));
        Assert.Equal(4UL * 9 + 3, BitConverter.ToUInt64(bytes, 8)); // tensors: 9 per layer + embd, norm, output
        Assert.Equal(0, bytes.Length % GgufWriter.Alignment);
    }

    [Fact]
    public void Float16GgufLoadsAndStaysClose()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var gguf = Path.Combine(temp.Path, "tiny-f16.gguf");
        LlamaGgufExporter.Export(TinyLlama, gguf, GgmlType.F16);
        using var reference = new LlamaCppReference(gguf, contextSize: 64);
        using var ours = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        int[] prompt = [507, 17, 230, 45];
        var a = ours.Step([new StepInput(0, 0, prompt)]);
        var b = reference.Decode(prompt, 0);
        Assert.True(MaxAbsDiff(a, b) < 2e-2 * (1 + MaxAbs(a)), $"f16 diff {MaxAbsDiff(a, b)}");
    }
}

using Bento.ModelGen;
using Bento.Runtime.Model;

namespace Bento.Runtime.Tests.Model;

/// <summary>Paths and helpers shared by the Model tests.</summary>
internal static class ModelTestSupport
{
    public static string TinyLlama => Repo.ExampleDirectory;

    /// <summary>
    /// Generates a random Llama into <paramref name="dir"/>. <paramref name="initStd"/> replaces ModelGen's
    /// normal(0, 0.02) init: with 0.02 the logits of a random model are nearly flat (all within ~1e-2 of each
    /// other), so greedy picks hinge on rounding noise; a larger init gives well-separated logits.
    /// </summary>
    /// <param name="edit">Changes a tensor's values (by name) after the seeded init: the same model with one difference.</param>
    public static async Task<GeneratedModel> GenerateAsync(string dir, RandomModelSpec spec, double? initStd = null, Action<string, float[]>? edit = null)
    {
        var options = ModelPresets.Random(spec);
        if (initStd is { } std)
        {
            var values = new Dictionary<string, ReadOnlyMemory<float>>();
            var rng = new Random((int)spec.Seed);
            foreach (var t in LlamaWeights.Describe(options.Config))
            {
                var data = new float[t.ElementCount];
                if (t.IsNormWeight)
                    for (var i = 0; i < data.Length; i++) data[i] = t.NormIdentity + (float)(0.1 * Gaussian(rng));
                else
                    for (var i = 0; i < data.Length; i++) data[i] = (float)(std * Gaussian(rng));
                edit?.Invoke(t.Name, data);
                values[t.Name] = data;
            }
            options = options with { Weights = LlamaWeights.FromValues(options.Config, values) };
        }
        return await ModelFolderGenerator.GenerateAsync(dir, options);
    }

    /// <summary>A copy of model folder <paramref name="dir"/> at <paramref name="copy"/> with config.json edited.</summary>
    public static string CopyWithConfig(string dir, string copy, Action<System.Text.Json.Nodes.JsonObject> edit)
    {
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.EnumerateFiles(dir))
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        var path = Path.Combine(copy, "config.json");
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        File.WriteAllText(path, config.ToJsonString());
        return copy;
    }

    private static double Gaussian(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        var max = 0f;
        for (var i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }

    public static float MaxAbs(ReadOnlySpan<float> a)
    {
        var max = 0f;
        foreach (var v in a) max = Math.Max(max, Math.Abs(v));
        return max;
    }

    public static int ArgMax(ReadOnlySpan<float> a)
    {
        var best = 0;
        for (var i = 1; i < a.Length; i++) if (a[i] > a[best]) best = i;
        return best;
    }

    /// <summary>Greedy generation of <paramref name="steps"/> tokens with our runner (slot 0).</summary>
    public static (List<int> Tokens, List<float[]> Logits) Greedy(IModelRunner runner, int[] prompt, int steps)
    {
        var tokens = new List<int>();
        var logits = new List<float[]>();
        var row = runner.Step([new StepInput(0, 0, prompt)]);
        var position = prompt.Length;
        for (var i = 0; i < steps; i++)
        {
            logits.Add(row);
            var next = ArgMax(row);
            tokens.Add(next);
            row = runner.Step([new StepInput(0, position++, new[] { next })]);
        }
        return (tokens, logits);
    }
}

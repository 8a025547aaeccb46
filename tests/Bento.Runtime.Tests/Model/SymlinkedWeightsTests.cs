using Bento.Runtime.Model;
using static Bento.Runtime.Tests.Model.ModelTestSupport;

namespace Bento.Runtime.Tests.Model;

/// <summary>Hugging Face cache snapshots (and images that link weights) hold symlinks to the weight files.</summary>
public sealed class SymlinkedWeightsTests
{
    [Fact]
    public void A_symlinked_safetensors_file_loads_and_gives_the_same_logits()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var blobs = Directory.CreateDirectory(Path.Combine(temp.Path, "blobs")).FullName;
        var snapshot = Directory.CreateDirectory(Path.Combine(temp.Path, "snapshot")).FullName;
        foreach (var file in Directory.EnumerateFiles(TinyLlama))
        {
            var name = Path.GetFileName(file);
            if (name == "model.safetensors")
            {
                File.Copy(file, Path.Combine(blobs, "weights-blob"));
                File.CreateSymbolicLink(Path.Combine(snapshot, name), Path.Combine(blobs, "weights-blob"));
            }
            else File.Copy(file, Path.Combine(snapshot, name));
        }
        int[] prompt = [507, 49, 256, 257, 259];
        using var direct = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 32 });
        using var linked = EagerModelRunner.Open(snapshot, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 32 });
        Assert.True(MaxAbsDiff(direct.Step([new StepInput(0, 0, prompt)]), linked.Step([new StepInput(0, 0, prompt)])) < 1e-5);
    }
}

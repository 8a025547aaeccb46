using Bento.Runtime.Model;
using Bento.Runtime.Tokenization;
using static Bento.Runtime.Tests.Model.ModelTestSupport;

namespace Bento.Runtime.Tests.Training;

/// <summary>
/// The committed examples/tiny-llama weights are trained (tools/Bento.Trainer, `bento-train tiny-llama`): greedy
/// decoding through the serving path (the folder's tokenizer.json and the KV-cached EagerModelRunner) counts on.
/// </summary>
public sealed class TrainedExampleTests
{
    [Theory]
    [InlineData("1 2 3 4", " 5 6 7")]
    [InlineData("10 11 12", " 13 14")]
    [InlineData("20 21 22 23", " 24 25")]
    public void CommittedExampleCountsOn(string prompt, string expectedStart)
    {
        var tokenizer = HfTokenizer.Load(TinyLlama);
        using var runner = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64, Threads = 2 });
        var ids = tokenizer.Encode(prompt, addSpecialTokens: true).ToArray();
        Assert.Equal(tokenizer.BosTokenId, ids[0]);

        var (tokens, _) = Greedy(runner, ids, 6);
        var stop = tokens.FindIndex(tokenizer.StopTokenIds.Contains);
        var continuation = tokenizer.Decode(stop < 0 ? tokens : tokens[..stop], skipSpecialTokens: true);
        Assert.True(continuation.StartsWith(expectedStart, StringComparison.Ordinal),
            $"\"{prompt}\" continued as \"{continuation}\", expected it to start with \"{expectedStart}\"; " +
            "retrain with: scripts/trixie run -- dotnet run --project tools/Bento.Trainer -c Release -- tiny-llama examples/tiny-llama --threads 2");
    }
}

using System.Globalization;
using Bento.ModelGen;

// bento-modelgen: writes deterministic Llama-architecture Hugging Face model folders.
// Exit codes: 0 success, 1 failure while generating, 2 usage error.

if (args is ["-h"] or ["--help"] or ["help"])
{
    Console.WriteLine(CommandLine.Usage);
    return 0;
}

string outDir;
Func<ModelGenerationOptions> buildOptions;
try
{
    (outDir, buildOptions) = CommandLine.Parse(args);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"bento-modelgen: {e.Message}");
    Console.Error.WriteLine(CommandLine.Usage);
    return 2;
}

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // Let the generator stop and clean its staging folder instead of dying mid-write.
    e.Cancel = true;
    cancellation.Cancel();
};

try
{
    var model = await ModelFolderGenerator.GenerateAsync(outDir, buildOptions(), cancellation.Token);
    var c = model.Config;
    Console.WriteLine($"output: {model.Directory}");
    Console.WriteLine($"total_bytes: {model.TotalBytes.ToString(CultureInfo.InvariantCulture)}");
    Console.WriteLine($"weight_bytes: {model.WeightBytes.ToString(CultureInfo.InvariantCulture)}");
    Console.WriteLine(
        $"model: vocab {c.VocabSize}, hidden {c.HiddenSize}, intermediate {c.IntermediateSize}, layers {c.NumHiddenLayers}, " +
        $"heads {c.NumAttentionHeads}/{c.NumKeyValueHeads} kv, {c.TorchDtype}, {(c.TieWordEmbeddings ? "tied" : "untied")}, files {model.FileNames.Count}");
    return 0;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("bento-modelgen: cancelled; nothing was written");
    return 1;
}
catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or InvalidDataException)
{
    Console.Error.WriteLine($"bento-modelgen: {e.Message}");
    return 1;
}

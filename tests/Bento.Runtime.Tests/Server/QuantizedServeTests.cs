using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Tests.Server;

/// <summary>A bento built with <c>model: {path: ., quantize: int8}</c>, served: /health says what runs, completions work.</summary>
public sealed class QuantizedServeTests
{
    [Fact]
    public async Task Int8BentoServesAndHealthSaysSo()
    {
        await using var server = await RunningServer.StartAsync(bentofile: "name: tiny-int8\nmodel: {path: ., quantize: int8}\nruntime: {max_model_len: 128}\n");
        var manifest = Bento.Core.Manifest.ManifestSerializer.FromYaml(File.ReadAllText(Path.Combine(server.BentoDirectory, "bento.yaml")), "bento.yaml");
        Assert.Equal("bento build", manifest.Model.Quantization!.QuantizedBy);

        var health = JsonNode.Parse(await server.Http.GetStringAsync(new Uri(server.BaseUri, "/health")))!;
        var engine = health["engine"]!;
        Assert.Equal("float32", engine["dtype"]!.GetValue<string>());              // what the non-quantized tensors are
        Assert.Equal("float32", engine["activation_dtype"]!.GetValue<string>());
        Assert.StartsWith("int8 per-channel: 30 of 30 matrices", engine["quantization"]!.GetValue<string>());
        Assert.StartsWith("managed AVX2/FMA", engine["decode_kernel"]!.GetValue<string>());
        // The plan counts a byte per weight plus the scales.
        var weights = engine["memory_plan"]!["weight_bytes"]!.GetValue<long>();
        Assert.InRange(weights, 918_656L, 918_656L * 4 * 3 / 10);

        var response = await server.Http.PostAsJsonAsync(new Uri(server.BaseUri, "/v1/completions"),
            new { model = "tiny-int8", prompt = "Once upon a time", max_tokens = 8, temperature = 0, ignore_eos = true });
        response.EnsureSuccessStatusCode();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(8, body["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal("length", body["choices"]![0]!["finish_reason"]!.GetValue<string>());
    }
}

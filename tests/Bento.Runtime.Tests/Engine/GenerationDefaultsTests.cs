using System.Text.Json.Nodes;
using Bento.Runtime.Engine;

namespace Bento.Runtime.Tests.Engine;

/// <summary>generation_config.json's sampling defaults, read as vLLM's --generation-config auto reads them.</summary>
public sealed class GenerationDefaultsTests
{
    [Fact]
    public void The_sampling_keys_are_read_and_the_rest_ignored()
    {
        var defaults = GenerationDefaults.FromJson(JsonNode.Parse("""
            {"bos_token_id": 1, "eos_token_id": [2, 3], "do_sample": true, "temperature": 0.6, "top_p": 0.9, "top_k": 20,
             "repetition_penalty": 1.05, "max_new_tokens": 512, "max_length": 4096}
            """)!.AsObject());
        Assert.Equal(new GenerationDefaults { Temperature = 0.6, TopP = 0.9, TopK = 20, RepetitionPenalty = 1.05, MaxNewTokens = 512 }, defaults);
        Assert.Equal("temperature=0.6, top_p=0.9, top_k=20, repetition_penalty=1.05, max_new_tokens=512", defaults.ToString());
    }

    [Fact]
    public void Values_a_request_could_not_send_are_ignored()
    {
        var defaults = GenerationDefaults.FromJson(JsonNode.Parse("""{"temperature": "hot", "top_p": 0, "top_k": 2.5, "repetition_penalty": 9, "max_new_tokens": -1}""")!.AsObject());
        Assert.True(defaults.IsEmpty);
        Assert.Equal("none", defaults.ToString());
    }

    [Fact]
    public void A_folder_without_the_file_has_no_defaults()
    {
        using var dir = new TempDirectory();
        Assert.Same(GenerationDefaults.None, GenerationDefaults.Load(dir.Path));
        File.WriteAllText(Path.Combine(dir.Path, "generation_config.json"), "{not json");
        Assert.Same(GenerationDefaults.None, GenerationDefaults.Load(dir.Path));
    }
}

using Bento.Core.Manifest;
using Bento.Core.Serving;

namespace Bento.Core.Tests;

/// <summary>runtime.tool_call_parser is written only when set, so bentos built before it existed keep their versions.</summary>
public sealed class ManifestToolCallParserTests
{
    [Fact]
    public void An_unset_tool_call_parser_leaves_the_manifest_as_it_was_and_a_set_one_round_trips()
    {
        var manifest = new BentoManifest { Name = "m" };
        Assert.DoesNotContain("tool_call_parser", ManifestSerializer.ToJson(manifest));
        manifest.Runtime.ToolCallParser = "hermes";
        var json = ManifestSerializer.ToJson(manifest);
        Assert.Contains("\"tool_call_parser\": \"hermes\"", json);
        var runtime = System.Text.Json.JsonSerializer.Deserialize<ManifestRuntime>(ManifestSerializer.ToJsonNode(manifest)["runtime"]!.ToJsonString(), ManifestSerializer.Options)!;
        Assert.Equal("hermes", runtime.ToolCallParser);
        Assert.Equal("hermes", SettingName.ToolCallParser.ReadManifestBoxed(runtime));
    }
}

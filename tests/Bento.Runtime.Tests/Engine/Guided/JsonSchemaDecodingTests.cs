using System.Text.Json;
using System.Text.Json.Nodes;
using Bento.Runtime.Engine.Guided;
using Bento.Runtime.Tests.Tokenization;
using Json.Schema;

namespace Bento.Runtime.Tests.Engine.Guided;

/// <summary>
/// JSON schema constrained decoding over the example's real byte-level BPE vocabulary, driven by random logits (a
/// random model writes garbage, so only the constraint can make its output valid): every output that ends parses and
/// validates against the schema by an independent validator (JsonSchema.Net), and one cut off by the token limit is
/// still a prefix of a valid output.
/// </summary>
public sealed class JsonSchemaDecodingTests
{
    public static TheoryData<string> Schemas => new()
    {
        """{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"},"ok":{"type":"boolean"},"tag":{"type":"null"}},"required":["name","age"]}""",
        """{"type":"object","properties":{"xs":{"type":"array","items":{"type":"number"},"minItems":2,"maxItems":4},"mode":{"enum":["fast","slow",3,null,{"a":[1]}]},"v":{"const":"fixed \"quoted\" é"}},"required":["xs","mode","v"]}""",
        """{"$defs":{"node":{"type":"object","properties":{"value":{"type":"integer","minimum":-5,"maximum":120},"children":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["value"]}},"$ref":"#/$defs/node"}""",
        """{"type":"object","properties":{"id":{"type":"string","format":"uuid"},"day":{"type":"string","format":"date"},"code":{"type":"string","pattern":"^[A-Z]{2}-\\d{3}$"},"q":{"type":"string","pattern":"a\"b\\\\c"}},"required":["id","day","code","q"]}""",
        """{"type":"object","properties":{"kind":{"type":"string","enum":["a","b"]}},"required":["kind"],"additionalProperties":{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":10}}""",
        """{"anyOf":[{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]},{"type":"array","items":{"type":["string","null"],"maxLength":3},"maxItems":3},{"type":"boolean"}]}""",
        """{"type":"array","prefixItems":[{"type":"string","minLength":2,"maxLength":4},{"type":"integer","minimum":1000,"maximum":1005}],"minItems":1}""",
        """{"type":"object","properties":{"a":{"type":"string","maxLength":3},"b":{"type":"string","maxLength":3},"c":{"type":"string","maxLength":3}}}""",
        """{"type":"object","properties":{"name":{"type":"string","maxLength":5}},"required":["name","extra"]}""",
        """{"type":"object","properties":{"n":{"type":"integer","minimum":0},"m":{"type":"integer","maximum":-3},"s":{"type":"string","minLength":3,"maxLength":3}},"required":["n","m","s"]}""",
    };

    [Theory]
    [MemberData(nameof(Schemas))]
    public void Every_finished_output_parses_and_validates(string schemaText)
    {
        var tokenizer = TokenizerTestFiles.Example;
        var compiled = GuidedCompiler.Compile(tokenizer, GuidedSpec.JsonSchema(JsonNode.Parse(schemaText), "response_format"));
        var validator = JsonSchema.FromText(schemaText);
        var options = new EvaluationOptions { RequireFormatValidation = true, OutputFormat = OutputFormat.List };
        var finished = 0;
        for (var seed = 0; seed < 40; seed++)
        {
            var walk = GuidedWalk.Run(compiled, tokenizer, seed, maxTokens: 1500);
            if (!walk.Finished)
            {
                Assert.True(compiled.IsPrefix(walk.Text), $"seed {seed}: a cut-off output left the grammar: {walk.Text}");
                continue;
            }
            finished++;
            using var document = ParseOrFail(walk.Text, seed);
            var result = validator.Evaluate(document.RootElement, options);
            Assert.True(result.IsValid, $"seed {seed}: {walk.Text} does not validate: " +
                string.Join("; ", (result.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))));
        }
        Assert.True(finished >= 20, $"only {finished} of 40 walks finished within the token limit");
    }

    private static JsonDocument ParseOrFail(string text, int seed)
    {
        try { return JsonDocument.Parse(text); }
        catch (JsonException e) { throw new Xunit.Sdk.XunitException($"seed {seed}: not JSON ({e.Message}): {text}"); }
    }

    /// <summary>Wide objects and deep nesting: members are tail calls, so neither grows the automaton's stack.</summary>
    [Fact]
    public void Objects_with_a_hundred_members_and_deep_nesting_still_complete()
    {
        var wide = new JsonObject();
        for (var i = 0; i < 100; i++) wide[$"p{i}"] = JsonNode.Parse("""{"type":"integer","minimum":0,"maximum":9}""");
        JsonNode deep = JsonNode.Parse("""{"type":"integer","minimum":0,"maximum":9}""")!;
        for (var level = 0; level < 25; level++)
            deep = new JsonObject { ["type"] = "object", ["properties"] = new JsonObject { ["a"] = deep }, ["required"] = new JsonArray("a") };
        var schema = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject { ["wide"] = new JsonObject { ["type"] = "object", ["properties"] = wide, ["required"] = new JsonArray(Enumerable.Range(0, 100).Select(i => (JsonNode)$"p{i}").ToArray()) }, ["deep"] = deep },
            ["required"] = new JsonArray("wide", "deep"),
        };
        var tokenizer = TokenizerTestFiles.Example;
        var compiled = GuidedCompiler.Compile(tokenizer, GuidedSpec.JsonSchema(JsonNode.Parse(schema.ToJsonString()), "response_format"));
        var validator = JsonSchema.FromText(schema.ToJsonString());
        for (var seed = 0; seed < 3; seed++)
        {
            var walk = GuidedWalk.Run(compiled, tokenizer, seed, maxTokens: 3000);
            Assert.True(walk.Finished, walk.Text);
            using var document = ParseOrFail(walk.Text, seed);
            Assert.True(validator.Evaluate(document.RootElement).IsValid, walk.Text);
        }
    }

    [Fact]
    public void Json_object_mode_always_gives_an_object()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var compiled = GuidedCompiler.Compile(tokenizer, GuidedSpec.JsonObject());
        var finished = 0;
        for (var seed = 0; seed < 30; seed++)
        {
            var walk = GuidedWalk.Run(compiled, tokenizer, seed, maxTokens: 600);
            if (!walk.Finished) { Assert.True(compiled.IsPrefix(walk.Text)); continue; }
            finished++;
            Assert.IsType<JsonObject>(JsonNode.Parse(walk.Text));
        }
        Assert.True(finished > 0);
    }

    [Fact]
    public void The_end_is_allowed_only_where_the_output_is_complete()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var compiled = GuidedCompiler.Compile(tokenizer, GuidedSpec.JsonSchema(JsonNode.Parse("""{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}"""), "response_format"));
        var constraint = compiled.Start();
        var eos = tokenizer.StopTokenIds.First();
        var logits = new float[tokenizer.VocabSize];
        foreach (var piece in new[] { "{\"", "a", "\":", "1" })
        {
            Array.Fill(logits, 1f);
            constraint.Apply(logits);
            Assert.True(float.IsNegativeInfinity(logits[eos]), $"EOS allowed before '{piece}'");
            foreach (var id in tokenizer.Encode(piece, addSpecialTokens: false)) constraint.Advance(id);
        }
        Array.Fill(logits, 1f);
        constraint.Apply(logits);
        Assert.True(float.IsNegativeInfinity(logits[eos]), "EOS allowed inside {\"a\":1");
        foreach (var id in tokenizer.Encode("}", addSpecialTokens: false)) constraint.Advance(id);
        Array.Fill(logits, 1f);
        constraint.Apply(logits);
        Assert.Equal(1f, logits[eos]);
        Assert.True(constraint.OnlyStopTokens);
        Assert.All(Enumerable.Range(0, logits.Length).Where(i => !tokenizer.StopTokenIds.Contains(i)), i => Assert.True(float.IsNegativeInfinity(logits[i])));
    }

    [Fact]
    public void Characters_the_vocabulary_only_has_as_bytes_are_spelled_byte_by_byte()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var compiled = GuidedCompiler.Compile(tokenizer, GuidedSpec.JsonSchema(JsonNode.Parse("""{"enum":["héllo","日本語","🙂"]}"""), "response_format"));
        var seen = new HashSet<string>();
        for (var seed = 0; seed < 30; seed++)
        {
            var walk = GuidedWalk.Run(compiled, tokenizer, seed, maxTokens: 40);
            Assert.True(walk.Finished);
            seen.Add(JsonNode.Parse(walk.Text)!.GetValue<string>());
        }
        Assert.Equal(["héllo", "日本語", "🙂"], seen.Order());
    }

    [Theory]
    [InlineData(-1100, 1100, -7, 42)]
    [InlineData(-1100, 1100, 0, null)]
    [InlineData(-1100, 1100, null, -1)]
    [InlineData(-1100, 1100, 99, 1001)]
    [InlineData(-1100, 1100, -1000, -10)]
    [InlineData(-1100, 1100, 5, 5)]
    public void Integer_bounds_accept_exactly_the_numbers_in_range(int from, int to, int? min, int? max)
    {
        var schema = JsonNode.Parse("""{"type":"integer"}""")!.AsObject();
        if (min is not null) schema["minimum"] = JsonNode.Parse(min.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (max is not null) schema["maximum"] = JsonNode.Parse(max.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var compiled = GuidedCompiler.Compile(TokenizerTestFiles.Example, GuidedSpec.JsonSchema(schema, "response_format"));
        for (var n = from; n <= to; n++)
            Assert.True(compiled.Accepts(n.ToString(System.Globalization.CultureInfo.InvariantCulture)) == (n >= (min ?? int.MinValue) && n <= (max ?? int.MaxValue)), $"{n}");
        Assert.False(compiled.Accepts("-0"));
        Assert.False(compiled.Accepts("007"));
    }

    [Theory]
    [InlineData("""{"type":"strin"}""", "unknown type 'strin'")]
    [InlineData("""{"type":"object","properties":{"a":{"not":{"type":"string"}}}}""", "#/properties/a: 'not' is not supported")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "does not resolve")]
    [InlineData("""{"$ref":"https://example.com/s.json"}""", "only local references")]
    [InlineData("""{"type":"string","pattern":"(a"}""", "missing ')'")]
    [InlineData("""{"type":"string","pattern":"(a)\\1"}""", "backreferences")]
    [InlineData("""{"type":"string","format":"hostname"}""", "format 'hostname' is not supported")]
    [InlineData("""{"type":"number","minimum":0.5}""", "'minimum' on a number")]
    [InlineData("""{"type":"array","uniqueItems":true}""", "'uniqueItems' is not supported")]
    [InlineData("""{"type":"string","minLength":5,"maxLength":2}""", "'maxLength' is below 'minLength'")]
    [InlineData("""{"type":"object","required":"a"}""", "'required' must be a list")]
    [InlineData("""false""", "matches nothing")]
    [InlineData("""{"allOf":[{"type":"string"},{"maxLength":3}]}""", "exactly one schema")]
    [InlineData("""{"type":"integer","minimum":10,"maximum":5}""", "no integer lies within")]
    public void Schemas_we_cannot_enforce_are_refused_naming_the_keyword(string schema, string expected)
    {
        var e = Assert.Throws<GuidedDecodingException>(() => GuidedSpec.JsonSchema(JsonNode.Parse(schema), "response_format.json_schema.schema"));
        Assert.Equal("response_format.json_schema.schema", e.Param);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Compiled_constraints_are_shared_by_requests_with_the_same_schema()
    {
        var tokenizer = TokenizerTestFiles.Example;
        const string schema = """{"type":"object","properties":{"k":{"type":"string"}},"required":["k"]}""";
        var a = GuidedCompiler.Compile(tokenizer, GuidedSpec.JsonSchema(JsonNode.Parse(schema), "x"));
        var b = GuidedCompiler.Compile(tokenizer, GuidedSpec.JsonSchema(JsonNode.Parse(schema), "x"));
        Assert.Same(a.Machine, b.Machine);
    }
}

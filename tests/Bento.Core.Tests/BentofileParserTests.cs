using Bento.Core.Serving;
using Bento.Core.Spec;

namespace Bento.Core.Tests;

public class BentofileParserTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private Bentofile Parse(string yaml) => BentofileParser.Parse(yaml, _dir.Combine("bentofile.yaml"));

    private SpecException Fails(string yaml) => Assert.Throws<SpecException>(() => Parse(yaml));

    [Fact]
    public void Full_form_is_read_with_every_field()
    {
        Directory.CreateDirectory(_dir.Combine("weights"));
        var spec = Parse("""
            name: my-model
            description: a test
            labels: {owner: me, tier: 1}
            include: ["*.md"]
            exclude: ["secret.txt"]
            envs:
              - name: HF_HOME
                value: /cache
            model: weights
            runtime:
              enforce_eager: {value: true, overridable: false, env: MY_EAGER}
              max_model_len: 256
              max_num_seqs: 4
              dtype: bfloat16
              gpu_memory_utilization: 0.5
              port: 8080
              tool_call_parser: Hermes
            docker:
              base_image: example.com/base:1
              labels: {a: b}
            """);
        Assert.Equal("my-model", spec.Name);
        Assert.Equal("a test", spec.Description);
        Assert.Equal("1", spec.Labels["tier"]);
        Assert.Equal(["*.md"], spec.Include);
        Assert.Equal(["secret.txt"], spec.Exclude);
        Assert.Equal(new EnvVar("HF_HOME", "/cache"), Assert.Single(spec.Envs));
        Assert.Equal(_dir.Combine("weights"), spec.ModelDirectory);
        Assert.Equal(new EnforceEagerSpec(EagerMode.True, false, "MY_EAGER"), spec.Runtime.EnforceEager);
        Assert.Equal(256, spec.Runtime.Given[SettingName.MaxModelLen]);
        Assert.Equal(4, spec.Runtime.Given[SettingName.MaxNumSeqs]);
        Assert.Equal("bfloat16", spec.Runtime.Given[SettingName.Dtype]);
        Assert.Equal(0.5, spec.Runtime.Given[SettingName.GpuMemoryUtilization]);
        Assert.Equal(8080, spec.Runtime.Given[SettingName.Port]);
        Assert.Equal("hermes", spec.Runtime.Given[SettingName.ToolCallParser]);
        Assert.Equal("example.com/base:1", spec.Docker.BaseImage);
        Assert.Equal("b", spec.Docker.Labels["a"]);
    }

    [Fact]
    public void Short_form_enforce_eager_keeps_overridable_default_and_env_name()
    {
        var spec = Parse("name: m\nruntime:\n  enforce_eager: true\n");
        Assert.Equal(new EnforceEagerSpec(EagerMode.True, true, "BENTO_ENFORCE_EAGER"), spec.Runtime.EnforceEager);
    }

    [Theory]
    [InlineData("name: m\nruntime:\n  enforce_eager: auto\n", true)]
    [InlineData("name: m\nruntime:\n  enforce_eager: AUTO\n", true)]
    [InlineData("name: m\nruntime:\n  enforce_eager: {value: auto, overridable: false}\n", false)]
    public void Enforce_eager_auto_is_its_third_value(string yaml, bool overridable) =>
        Assert.Equal(new EnforceEagerSpec(EagerMode.Auto, overridable, "BENTO_ENFORCE_EAGER"), Parse(yaml).Runtime.EnforceEager);

    [Fact]
    public void Defaults_apply_when_keys_are_absent()
    {
        var spec = Parse("name: m\n");
        Assert.Equal(EnforceEagerSpec.Default, spec.Runtime.EnforceEager);
        Assert.Empty(spec.Runtime.Given);
        Assert.Equal(_dir.Path, spec.ModelDirectory);
        Assert.Equal(["**"], spec.Include);
    }

    [Fact]
    public void Envs_accept_a_mapping_too()
    {
        var spec = Parse("name: m\nenvs:\n  A: '1'\n  B: two\n");
        Assert.Equal([new EnvVar("A", "1"), new EnvVar("B", "two")], spec.Envs);
    }

    [Fact]
    public void Yaml_syntax_error_names_file_and_line()
    {
        var e = Fails("name: m\nruntime:\n  port: [1, 2\n");
        Assert.Matches(@"bentofile\.yaml:\d+:\d+: invalid YAML", e.Message);
        Assert.DoesNotContain("(Line:", e.Message);
    }

    [Fact]
    public void Wrong_boolean_names_line_column_key_and_expectation()
    {
        var e = Fails("name: m\nruntime:\n  enforce_eager: maybe\n");
        Assert.Contains("bentofile.yaml:3:18: runtime.enforce_eager: expected true, false or auto, got 'maybe'", e.Message);
    }

    [Fact]
    public void Quoted_boolean_is_rejected_with_advice()
    {
        var e = Fails("name: m\nruntime:\n  enforce_eager:\n    value: \"true\"\n");
        Assert.Contains("runtime.enforce_eager.value", e.Message);
        Assert.Contains("remove the quotes", e.Message);
    }

    [Fact]
    public void Unknown_key_suggests_the_closest()
    {
        var e = Fails("name: m\nruntime:\n  enforce_eagr: true\n");
        Assert.Contains("bentofile.yaml:3:3: runtime.enforce_eagr: unknown key under 'runtime'; did you mean 'enforce_eager'?", e.Message);
    }

    [Fact]
    public void Unknown_top_level_key_without_close_match_lists_allowed_keys()
    {
        var e = Fails("name: m\nservice: svc:Thing\n");
        Assert.Contains("service: unknown key at the top level", e.Message);
        Assert.Contains("allowed: name, description", e.Message);
    }

    [Theory]
    [InlineData("runtime:\n  port: 70000\n", "runtime.port: '70000' is out of range; use a whole number from 1 to 65535")]
    [InlineData("runtime:\n  max_num_seqs: many\n", "runtime.max_num_seqs: 'many' is not an integer; use a whole number from 1 to 65536")]
    [InlineData("runtime:\n  gpu_memory_utilization: 1.5\n", "runtime.gpu_memory_utilization: '1.5' is out of range; use a number greater than 0 and at most 1, e.g. 0.9")]
    [InlineData("runtime:\n  dtype: int4\n", "runtime.dtype: 'int4' is not a dtype; use auto, float32, float16, bfloat16")]
    [InlineData("runtime:\n  tool_call_parser: qwen\n", "runtime.tool_call_parser: 'qwen' is not a tool-call parser; use auto, hermes, llama3_json, mistral or none")]
    [InlineData("labels: [a, b]\n", "labels: expected a mapping")]
    [InlineData("envs:\n  - name: 1BAD\n    value: x\n", "'1BAD' is not a valid environment variable name")]
    [InlineData("runtime:\n  enforce_eager: {value: true, env: 'has space'}\n", "runtime.enforce_eager.env: 'has space' is not a valid environment variable name")]
    [InlineData("docker:\n  base_image: ''\n", "docker.base_image: expected an image reference")]
    public void Wrong_types_and_ranges_are_explained(string body, string expected)
    {
        var e = Fails("name: m\n" + body);
        Assert.Contains(expected, e.Message);
        Assert.StartsWith(_dir.Combine("bentofile.yaml").Replace(Environment.CurrentDirectory + "/", ""), e.Message);
    }

    [Theory]
    [InlineData("me:s3cr3t-tok@ghcr.io/me/base:1")]
    [InlineData("https://me:s3cr3t-tok@ghcr.io/me/base:1")]
    [InlineData("s3cr3t-tok@localhost:5000/base")]
    public void A_base_image_carrying_credentials_is_refused_without_repeating_them(string reference)
    {
        var e = Fails($"name: m\ndocker:\n  base_image: '{reference}'\n");
        Assert.Contains("docker.base_image: expected an image reference", e.Message);
        Assert.Contains("bento login", e.Message);
        Assert.DoesNotContain("s3cr3t-tok", e.ToString());
    }

    [Theory]
    [InlineData("labels:\n  org.opencontainers.image.source: https://me:s3cr3t-tok@github.com/me/repo\n", "bentofile.yaml:3:36: labels.org.opencontainers.image.source:")]
    [InlineData("docker:\n  labels:\n    repo: git+ssh://s3cr3t-tok@example.com/me/repo\n", "bentofile.yaml:4:11: docker.labels.repo:")]
    public void A_label_url_carrying_credentials_is_refused_at_the_value_without_repeating_it(string yaml, string where)
    {
        var e = Fails("name: m\n" + yaml);
        Assert.Contains(where, e.Message);
        Assert.Contains("carries credentials", e.Message);
        Assert.DoesNotContain("s3cr3t-tok", e.ToString());
    }

    [Fact]
    public void Label_urls_without_credentials_and_email_like_values_are_accepted()
    {
        var spec = Parse("name: m\nlabels:\n  source: https://github.com/me/repo\n  owner: team@example.com\n  git: git@github.com:me/repo.git\n");
        Assert.Equal("https://github.com/me/repo", spec.Labels["source"]);
        Assert.Equal("git@github.com:me/repo.git", spec.Labels["git"]);
    }

    [Fact]
    public void A_base_image_pinned_by_digest_is_accepted()
    {
        const string pinned = "ghcr.io/me/base:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        Assert.Equal(pinned, Parse($"name: m\ndocker:\n  base_image: {pinned}\n").Docker.BaseImage);
    }

    [Fact]
    public void Invalid_name_is_rejected()
    {
        var e = Fails("name: My Model!\n");
        Assert.Contains("bentofile.yaml:1:7: name: 'My Model!' may use only lowercase letters", e.Message);
    }

    [Fact]
    public void Missing_model_folder_is_named()
    {
        var e = Fails("name: m\nmodel: ./nowhere\n");
        Assert.Contains("bentofile.yaml:2:8: model: the model folder './nowhere' does not exist", e.Message);
    }

    [Fact]
    public void Empty_file_and_non_mapping_are_rejected()
    {
        Assert.Contains("the file is empty", Fails("").Message);
        Assert.Contains("expected a mapping", Fails("- a\n- b\n").Message);
    }

    [Fact]
    public void Duplicate_keys_are_a_yaml_error()
    {
        var e = Fails("name: m\nname: n\n");
        Assert.Contains("bentofile.yaml:2:1", e.Message);
    }

    [Fact]
    public void Suggest_finds_near_misses_only()
    {
        Assert.Equal("max_num_seqs", Suggest.Closest("max_num_seq", ["max_model_len", "max_num_seqs"]));
        Assert.Null(Suggest.Closest("completely_different", ["port", "dtype"]));
    }
}

using Bento.Runtime.Model;

namespace Bento.Runtime.Tests.Model;

public sealed class LlamaModelConfigTests
{
    [Fact]
    public void ReadsTheTinyLlamaConfig()
    {
        var c = ModelConfig.Load(ModelTestSupport.TinyLlama);
        Assert.Equal((512, 128, 384, 4, 4, 2, 32), (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.Equal(1e-5, c.RmsNormEps);
        Assert.Null(c.RopeScaling);
        Assert.False(c.TieWordEmbeddings);
        Assert.Equal(ModelDtype.Float32, c.TorchDtype);
        Assert.Equal(2, c.KeyValueGroups);
    }

    private const string Llama31 = """
        {"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":4096,"intermediate_size":14336,
         "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"rms_norm_eps":1e-05,
         "rope_theta":500000.0,"max_position_embeddings":131072,"vocab_size":128256,"torch_dtype":"bfloat16",
         "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
         "bos_token_id":128000,"eos_token_id":[128001,128008,128009],"tie_word_embeddings":false}
        """;

    [Fact]
    public void Llama3RopeScalingChangesFrequenciesAsSpecified()
    {
        var c = ModelConfig.Parse(Llama31);
        Assert.Equal(new RopeScaling("llama3", 8.0, 1.0, 4.0, 8192), c.RopeScaling);
        Assert.Equal(128, c.HeadDim);
        Assert.Equal([128001, 128008, 128009], c.EosTokenIds);
        var scaled = c.RopeInverseFrequencies();
        var plain = (c with { RopeScaling = null }).RopeInverseFrequencies();
        Assert.Equal(64, scaled.Length);
        int high = 0, low = 0, medium = 0;
        for (var i = 0; i < 64; i++)
        {
            Assert.Equal(1.0 / Math.Pow(500000.0, 2.0 * i / 128), plain[i], 12);
            var wavelen = 2 * Math.PI / plain[i];
            if (wavelen < 8192 / 4.0)
            {
                Assert.Equal(plain[i], scaled[i]); // high frequencies untouched
                high++;
            }
            else if (wavelen > 8192 / 1.0)
            {
                Assert.Equal(plain[i] / 8.0, scaled[i], 15); // low frequencies divided by the factor
                low++;
            }
            else
            {
                var smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
                Assert.Equal((1 - smooth) * plain[i] / 8 + smooth * plain[i], scaled[i], 15);
                Assert.InRange(scaled[i], plain[i] / 8, plain[i]);
                medium++;
            }
        }
        Assert.True(high > 0 && low > 0 && medium > 0, $"{high} high, {medium} medium, {low} low");
        // Reference values from transformers' _compute_llama3_parameters for this config.
        Assert.Equal(1.0, scaled[0], 12);
        Assert.Equal(1.0, scaled[63] / (plain[63] / 8), 12);
    }

    [Fact]
    public void LinearRopeScalingDividesEveryFrequency()
    {
        var c = ModelConfig.Parse("""{"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_attention_heads":4,"rope_scaling":{"type":"linear","factor":4.0}}""");
        var plain = (c with { RopeScaling = null }).RopeInverseFrequencies();
        var scaled = c.RopeInverseFrequencies();
        for (var i = 0; i < plain.Length; i++)
            Assert.Equal(plain[i] / 4, scaled[i], 15);
    }

    [Fact]
    public void MistralSlidingWindowIsCheckedAgainstMaxModelLen()
    {
        var c = ModelConfig.Parse("""{"architectures":["MistralForCausalLM"],"model_type":"mistral","hidden_size":64,"num_attention_heads":4,"num_key_value_heads":1,"sliding_window":4096,"max_position_embeddings":32768}""");
        Assert.Equal(4096, c.SlidingWindow);
        c.CheckServable(4096);
        var e = Assert.Throws<Bento.Core.BentoException>(() => c.CheckServable(8192));
        Assert.Contains("sliding_window (config.json) is 4096", e.Message);
        ModelConfig.Parse("""{"architectures":["MistralForCausalLM"],"model_type":"mistral","hidden_size":64,"num_attention_heads":4,"sliding_window":null}""").CheckServable(1 << 20);
    }

    [Fact]
    public void QwenSlidingWindowAppliesOnlyWhenUseSlidingWindowIsTrue()
    {
        const string qwen2 = """{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","hidden_size":64,"num_attention_heads":4,"sliding_window":4096,"max_position_embeddings":32768""";
        Assert.Null(ModelConfig.Parse(qwen2 + ""","use_sliding_window":false}""").SlidingWindow);
        Assert.Null(ModelConfig.Parse(qwen2 + "}").SlidingWindow); // transformers' Qwen2Config default is false
        var windowed = ModelConfig.Parse(qwen2 + ""","use_sliding_window":true}""");
        Assert.Equal(4096, windowed.SlidingWindow);
        Assert.Throws<Bento.Core.BentoException>(() => windowed.CheckServable(8192));
    }

    [Theory]
    [InlineData("""{"architectures":["LlamaForCausalLM"],"rope_scaling":{"rope_type":"yarn","factor":4.0}}""", "yarn")]
    [InlineData("""{"architectures":["LlamaForCausalLM"],"attention_bias":true}""", "bias")]
    [InlineData("""{"architectures":["LlamaForCausalLM"],"model_type":"gpt2"}""", "gpt2")]
    [InlineData("""{"architectures":["GPT2LMHeadModel"]}""", "GPT2LMHeadModel")]
    [InlineData("""{"architectures":["Qwen3ForCausalLM"],"model_type":"qwen2"}""", "model_type: 'qwen2' does not match architecture Qwen3ForCausalLM (expected qwen3)")]
    [InlineData("""{"architectures":["Qwen3ForCausalLM"],"model_type":"qwen3","attention_bias":true}""", "no o_proj bias")]
    [InlineData("""{"num_attention_heads":4}""", "architectures: missing")]
    [InlineData("""{"architectures":["LlamaForCausalLM"],"num_attention_heads":6,"num_key_value_heads":4,"hidden_size":96}""", "multiple")]
    public void RejectsWhatTheModelDoesNotImplement(string json, string expected)
    {
        var e = Assert.Throws<Bento.Core.BentoException>(() => ModelConfig.Parse(json));
        Assert.Contains(expected, e.Message);
    }
}

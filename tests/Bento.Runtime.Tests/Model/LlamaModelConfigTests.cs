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
    public void MistralSlidingWindowMasksEveryLayerAtAnyLength()
    {
        var c = ModelConfig.Parse("""{"architectures":["MistralForCausalLM"],"model_type":"mistral","hidden_size":64,"num_attention_heads":4,"num_key_value_heads":1,"num_hidden_layers":3,"sliding_window":4096,"max_position_embeddings":32768}""");
        Assert.Equal(4096, c.SlidingWindow);
        Assert.All(Enumerable.Range(0, 3), l => Assert.Equal(new LayerAttention(4096, 1 / Math.Sqrt(16), null, false), c.Attention(l)));
        c.CheckServable(32768); // windows are implemented, not held to max_model_len
        var full = ModelConfig.Parse("""{"architectures":["MistralForCausalLM"],"model_type":"mistral","hidden_size":64,"num_attention_heads":4,"sliding_window":null}""");
        Assert.Null(full.Attention(0).Window);
    }

    [Fact]
    public void QwenSlidingWindowAppliesOnlyWhenUseSlidingWindowIsTrueAndFromMaxWindowLayers()
    {
        const string qwen2 = """{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":4,"sliding_window":4096,"max_position_embeddings":32768""";
        Assert.Null(ModelConfig.Parse(qwen2 + ""","use_sliding_window":false}""").SlidingWindow);
        Assert.Null(ModelConfig.Parse(qwen2 + "}").SlidingWindow); // transformers' Qwen2Config default is false
        var windowed = ModelConfig.Parse(qwen2 + ""","use_sliding_window":true,"max_window_layers":2}""");
        Assert.Equal(4096, windowed.SlidingWindow);
        // transformers' Qwen2: layers from max_window_layers on slide, the ones before attend fully.
        Assert.Equal([null, null, 4096, 4096], Enumerable.Range(0, 4).Select(l => windowed.Attention(l).Window));
        var listed = ModelConfig.Parse(qwen2 + ""","use_sliding_window":true,"layer_types":["sliding_attention","full_attention","full_attention","sliding_attention"]}""");
        Assert.Equal([4096, null, null, 4096], Enumerable.Range(0, 4).Select(l => listed.Attention(l).Window));
    }

    [Fact]
    public void DynamicRopeScalingIsExactUpToItsOriginalLengthAndRefusedBeyond()
    {
        var c = ModelConfig.Parse("""{"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_attention_heads":4,"max_position_embeddings":4096,"rope_scaling":{"type":"dynamic","factor":2.0}}""");
        Assert.Equal(("dynamic", 2.0, 4096), (c.RopeScaling!.Type, c.RopeScaling.Factor, c.RopeScaling.OriginalMaxPositionEmbeddings));
        Assert.Equal((c with { RopeScaling = null }).RopeInverseFrequencies(), c.RopeInverseFrequencies());
        c.CheckServable(4096);
        var e = Assert.Throws<Bento.Core.BentoException>(() => c.CheckServable(4097));
        Assert.Contains("'dynamic'", e.Message);
        Assert.Contains("at most 4096", e.Message);
    }

    private const string Phi4Mini = """
        {"architectures":["Phi3ForCausalLM"],"model_type":"phi3","hidden_size":3072,"intermediate_size":8192,"num_hidden_layers":32,
         "num_attention_heads":24,"num_key_value_heads":8,"max_position_embeddings":131072,"original_max_position_embeddings":4096,
         "partial_rotary_factor":0.75,"rms_norm_eps":1e-05,"rope_theta":10000.0,"sliding_window":262144,"tie_word_embeddings":true,
         "vocab_size":200064,"torch_dtype":"bfloat16","full_attn_mod":1,"interpolate_factor":1,"lm_head_bias":false,"mlp_bias":false,
         "rope_scaling":{"type":"longrope","short_factor":SHORT,"long_factor":LONG}}
        """;

    private static string Phi4MiniWith(int shortCount = 48, int longCount = 48) => Phi4Mini
        .Replace("SHORT", "[" + string.Join(",", Enumerable.Range(0, shortCount).Select(i => (1 + i / 48.0).ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]")
        .Replace("LONG", "[" + string.Join(",", Enumerable.Range(0, longCount).Select(i => (1 + i).ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]");

    [Fact]
    public void Phi4MiniLongRopeFollowsTransformers()
    {
        var c = ModelConfig.Parse(Phi4MiniWith());
        Assert.Equal((128, 96, true, true), (c.HeadDim, c.RotaryDim, c.FusedProjections, c.TieWordEmbeddings));
        Assert.Equal(4096, c.RopeScaling!.OriginalMaxPositionEmbeddings);
        // transformers' _compute_longrope_parameters: factor = 131072 / 4096 = 32, attention = sqrt(1 + ln 32 / ln 4096).
        Assert.Equal(Math.Sqrt(1 + Math.Log(32) / Math.Log(4096)), c.RopeAttentionFactor(), 15);
        Assert.False(c.UsesLongRopeFactors(4096));
        Assert.True(c.UsesLongRopeFactors(4097));
        var shortInv = c.RopeInverseFrequencies(contextLength: 4096);
        var longInv = c.RopeInverseFrequencies(contextLength: 8192);
        Assert.Equal(48, shortInv.Length);
        for (var i = 0; i < 48; i++)
        {
            var plain = 1.0 / Math.Pow(10000.0, 2.0 * i / 96); // the rotated part of a head is the RoPE dimension
            Assert.Equal(plain / (1 + i / 48.0), shortInv[i], 15);
            Assert.Equal(plain / (1 + i), longInv[i], 15);
        }
        Assert.Contains("needs 48", Assert.Throws<Bento.Core.BentoException>(() => ModelConfig.Parse(Phi4MiniWith(shortCount: 64))).Message);
        Assert.Contains("rope_scaling.short_factor", Assert.Throws<Bento.Core.BentoException>(() => ModelConfig.Parse(Phi4MiniWith(shortCount: 47))).Message);
    }

    [Fact]
    public void Gemma2AndGemma3ConfigsReadAsPublished()
    {
        var gemma2 = ModelConfig.Parse("""
            {"architectures":["Gemma2ForCausalLM"],"model_type":"gemma2","attn_logit_softcapping":50.0,"final_logit_softcapping":30.0,
             "head_dim":256,"hidden_act":"gelu_pytorch_tanh","hidden_activation":"gelu_pytorch_tanh","hidden_size":2304,"intermediate_size":9216,
             "max_position_embeddings":8192,"num_attention_heads":8,"num_hidden_layers":26,"num_key_value_heads":4,"query_pre_attn_scalar":256,
             "rms_norm_eps":1e-06,"rope_theta":10000.0,"sliding_window":4096,"vocab_size":256000,"eos_token_id":[1,107],"torch_dtype":"float32"}
            """);
        Assert.True(gemma2.TieWordEmbeddings); // no tie_word_embeddings key: Gemma2Config's default
        Assert.True(gemma2.GemmaBlock);
        Assert.Equal(new LayerAttention(4096, 1 / 16.0, 50.0, false), gemma2.Attention(0));
        Assert.Equal(new LayerAttention(null, 1 / 16.0, 50.0, false), gemma2.Attention(1));
        Assert.Equal(30.0, gemma2.FinalLogitSoftcapping);

        var gemma3 = ModelConfig.Parse("""
            {"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text","attn_logit_softcapping":null,"final_logit_softcapping":null,
             "head_dim":256,"hidden_activation":"gelu_pytorch_tanh","hidden_size":1152,"intermediate_size":6912,"max_position_embeddings":32768,
             "num_attention_heads":4,"num_hidden_layers":26,"num_key_value_heads":1,"query_pre_attn_scalar":256,"rms_norm_eps":1e-06,
             "rope_local_base_freq":10000,"rope_scaling":null,"rope_theta":1000000,"sliding_window":512,"sliding_window_pattern":6,"vocab_size":262144}
            """);
        Assert.True(gemma3.QkNorm);
        Assert.Null(gemma3.FinalLogitSoftcapping);
        // transformers: layer i slides unless (i + 1) % 6 == 0; sliding layers rotate with the local base.
        var global = Enumerable.Range(0, 26).Where(l => gemma3.Attention(l).Window is null).ToArray();
        Assert.Equal([5, 11, 17, 23], global);
        Assert.Equal(new LayerAttention(512, 1 / 16.0, null, true), gemma3.Attention(0));
        Assert.False(gemma3.Attention(5).LocalRope);
        Assert.Equal(1.0 / Math.Pow(10000, 2.0 / 256), gemma3.RopeInverseFrequencies(local: true)[1], 15);
        Assert.Equal(1.0 / Math.Pow(1e6, 2.0 / 256), gemma3.RopeInverseFrequencies()[1], 15);
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
    [InlineData("""{"architectures":["Gemma2ForCausalLM"],"hidden_activation":"silu"}""", "hidden_activation: 'silu' is not supported for Gemma2ForCausalLM (supported: gelu_pytorch_tanh)")]
    [InlineData("""{"architectures":["Phi3ForCausalLM"],"hidden_act":"gelu"}""", "hidden_act: 'gelu' is not supported for Phi3ForCausalLM (supported: silu)")]
    [InlineData("""{"architectures":["Phi3ForCausalLM"],"partial_rotary_factor":0.3,"hidden_size":256,"num_attention_heads":4}""", "partial_rotary_factor: 0.3 must be in (0, 1] and give an even number")]
    [InlineData("""{"architectures":["Phi3ForCausalLM"],"hidden_size":64,"num_attention_heads":4,"rope_scaling":{"type":"longrope","short_factor":[1,1,1,1,1,1,1,1]}}""", "rope_scaling.long_factor: missing; longrope needs 8 factors")]
    [InlineData("""{"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3"}""", "text_config: missing")]
    [InlineData("""{"architectures":["Qwen3MoeForCausalLM"]}""", "mixture-of-experts layers are not implemented")]
    [InlineData("""{"architectures":["Gemma3ForCausalLM"],"sliding_window_pattern":0}""", "sliding_window_pattern: 0 must be at least 1")]
    [InlineData("""{"architectures":["Gemma2ForCausalLM"],"layer_types":["sliding_attention"],"num_hidden_layers":2}""", "layer_types: expected a list of 2 entries")]
    [InlineData("""{"architectures":["Gemma2ForCausalLM"],"query_pre_attn_scalar":0}""", "query_pre_attn_scalar: 0 must be positive")]
    public void RejectsWhatTheModelDoesNotImplement(string json, string expected)
    {
        var e = Assert.Throws<Bento.Core.BentoException>(() => ModelConfig.Parse(json));
        Assert.Contains(expected, e.Message);
    }
}

using Bento.Runtime.Engine;

namespace Bento.Runtime.Tests.Engine;

/// <summary>Penalties and logit_bias with vLLM's arithmetic, on hand-made logits.</summary>
public class LogitsProcessorTests
{
    private static float[] Apply(SamplingParams p, int[] prompt, Dictionary<int, int> counts)
    {
        float[] logits = [2f, -2f, 1f, 0.5f, 3f];
        LogitsProcessor.Apply(logits, p, prompt.ToHashSet(), counts);
        return logits;
    }

    [Fact]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_logits_of_prompt_and_output_tokens()
    {
        var logits = Apply(new SamplingParams { RepetitionPenalty = 2 }, prompt: [0, 1], counts: new() { [2] = 1 });
        Assert.Equal([1f, -4f, 0.5f, 0.5f, 3f], logits);
    }

    [Fact]
    public void Frequency_counts_every_occurrence_and_presence_counts_once()
    {
        var logits = Apply(new SamplingParams { FrequencyPenalty = 0.5f, PresencePenalty = 1f }, prompt: [4], counts: new() { [0] = 3, [3] = 1 });
        Assert.Equal([2f - 1.5f - 1f, -2f, 1f, 0.5f - 0.5f - 1f, 3f], logits);
    }

    [Fact]
    public void Logit_bias_is_added_and_ids_outside_the_row_are_ignored()
    {
        var logits = Apply(new SamplingParams { LogitBias = new Dictionary<int, float> { [1] = 10, [99] = 5 } }, [], []);
        Assert.Equal([2f, 8f, 1f, 0.5f, 3f], logits);
        Assert.False(LogitsProcessor.IsActive(new SamplingParams()));
    }

    [Theory]
    [InlineData(3f, 0f, 1f, "presence_penalty")]
    [InlineData(0f, -2.5f, 1f, "frequency_penalty")]
    [InlineData(0f, 0f, 0f, "repetition_penalty")]
    [InlineData(0f, 0f, 2.5f, "repetition_penalty")]
    public void Out_of_range_penalties_name_their_field(float presence, float frequency, float repetition, string field)
    {
        var p = new SamplingParams { PresencePenalty = presence, FrequencyPenalty = frequency, RepetitionPenalty = repetition };
        Assert.Equal(field, Assert.Throws<InvalidRequestException>(() => p.Validate(3, 100)).Param);
    }

    /// <summary>
    /// The scripted model gives the successor of the last token 10 and every other token 0; a bias of 13 makes token
    /// 5 the greedy choice every step, until frequency_penalty 2 has taken 4 off it (after its second use).
    /// </summary>
    [Fact]
    public async Task In_the_engine_logit_bias_steers_greedy_decoding_and_frequency_penalty_wears_it_off()
    {
        var tokenizer = new CharTokenizer(stopIds: 63);
        using var engine = new LlmEngine(new ScriptedRunner(), tokenizer, new EngineOptions { MaxModelLen = 128 });
        async Task<List<int>> Generate(SamplingParams p)
        {
            var ids = new List<int>();
            var reader = engine.Submit(new GenerationRequest(Guid.NewGuid().ToString(), tokenizer.Encode("zz", false), p), CancellationToken.None);
            await foreach (var e in reader.ReadAllAsync()) if (e is TokenGenerated t) ids.Add(t.TokenId);
            return ids;
        }
        var steer = new SamplingParams { MaxTokens = 6, Temperature = 0, LogitBias = new Dictionary<int, float> { [5] = 13 } };
        Assert.Equal([5, 5, 5, 5, 5, 5], await Generate(steer));
        var worn = await Generate(steer with { FrequencyPenalty = 2 });
        Assert.Equal([5, 5, 6, 7, 8, 9], worn);
    }
}

public class LogprobsTests
{
    [Fact]
    public void Logprobs_are_the_log_softmax_and_the_top_alternatives_come_sorted()
    {
        float[] logits = [MathF.Log(1), MathF.Log(2), MathF.Log(3), MathF.Log(4)];
        var lp = Logprobs.Of(logits, token: 1, top: 2);
        Assert.Equal(Math.Log(0.2), lp.Logprob, 5);
        Assert.Equal([3, 2], lp.Top.Select(t => t.Id));
        Assert.Equal(Math.Log(0.4), lp.Top[0].Logprob, 5);
        Assert.Equal(Math.Log(0.3), lp.Top[1].Logprob, 5);
        Assert.Empty(Logprobs.Of(logits, 0, 0).Top);
    }
}

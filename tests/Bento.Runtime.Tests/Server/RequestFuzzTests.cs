using System.Diagnostics;
using System.Text;
using Bento.Runtime.Server;
using Bento.Runtime.Tokenization;
using Microsoft.AspNetCore.Http;

namespace Bento.Runtime.Tests.Server;

/// <summary>
/// Fuzzing the request parser (body reading, JSON, the UTF-16 check, every field of completions, chat, tokenize and
/// detokenize) with the example model's real tokenizer and chat template, a fixed seed and a bounded count: each
/// input must parse or be an <see cref="ApiException"/> (a 4xx naming the field), never another exception (a 500).
/// </summary>
public class RequestFuzzTests
{
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("BENTO_FUZZ_SEED"), out var seed) ? seed : 20_260_112;
    private static readonly int Scale = int.TryParse(Environment.GetEnvironmentVariable("BENTO_FUZZ_SCALE"), out var scale) && scale > 0 ? scale : 1;

    private static readonly string[] Seeds =
    [
        """{"model":"tiny-llama","prompt":"1 2 3","max_tokens":8,"temperature":0.7,"top_p":0.9,"top_k":5,"stop":["\n"],"seed":3,"stream":true,"stream_options":{"include_usage":true}}""",
        """{"model":"tiny-llama","prompt":["hello"],"logprobs":2,"n":2,"presence_penalty":0.5,"frequency_penalty":0.2,"repetition_penalty":1.1,"logit_bias":{"5":-100},"min_tokens":1,"ignore_eos":false,"stop_token_ids":[3]}""",
        """{"model":"tiny-llama","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"1 2"}],"max_tokens":4,"logprobs":true,"top_logprobs":3}""",
        """{"model":"tiny-llama","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"add_generation_prompt":false}""",
        """{"model":"tiny-llama","tokens":[1,2,3]}""",
    ];

    private static readonly string[] JsonTokens =
    [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\udc00", "null", "true", "false", "1e308", "-1e308", "1.5",
        "\"prompt\":", "\"messages\":", "\"role\":", "\"content\":", "\"max_tokens\":", "\"n\":", "\"logit_bias\":", "\"stop\":",
        "\"tokens\":", "\"temperature\":", "\"seed\":", "\"logprobs\":", "\"top_logprobs\":", "\"model\":", "\"stream\":",
    ];

    [Fact]
    public async Task Request_parser()
    {
        var model = Path.Combine(Repo.Root, "examples", "tiny-llama");
        var tokenizer = HfTokenizer.Load(model);
        var chat = ChatTemplateRenderer.Load(model, tokenizer);
        var mutator = new Mutator(Seed, Seeds.Select(Encoding.UTF8.GetBytes), JsonTokens);
        var clock = Stopwatch.StartNew();
        int accepted = 0, refused = 0, count = 20_000 * Scale;
        for (var i = 0; i < count; i++)
        {
            var input = mutator.Next();
            try
            {
                await Task.Run(async () =>
                {
                    var context = new DefaultHttpContext();
                    context.Request.Body = new MemoryStream(input);
                    context.Request.ContentLength = input.Length;
                    var fields = await JsonFields.ReadAsync(context.Request, CancellationToken.None);
                    // The endpoint the body was meant for (every other one, /tokenize instead).
                    _ = (fields.Has("tokens"), fields.Has("messages"), i % 2 == 0) switch
                    {
                        (true, _, _) => (object)OpenAiRequestParser.Detokenize(fields, tokenizer),
                        (_, _, false) => OpenAiRequestParser.Tokenize(fields, tokenizer, chat, 512),
                        (_, true, _) => OpenAiRequestParser.Chat(fields, tokenizer, chat, 512),
                        _ => OpenAiRequestParser.Completion(fields, tokenizer, 512),
                    };
                }).WaitAsync(TimeSpan.FromSeconds(5));
                accepted++;
            }
            catch (ApiException e) when (e.Status is >= 400 and < 500) { refused++; }
            catch (TimeoutException) { Assert.Fail($"input {i} took over 5 s: {Mutator.Show(input)}"); }
            catch (Exception e) { Assert.Fail($"input {i} gave {e.GetType().Name} ({e.Message}), a 500, instead of a 4xx: {Mutator.Show(input)}\n{e}"); }
        }
        Assert.True(accepted > count / 50 && refused > count / 10, $"{accepted} accepted, {refused} refused of {count}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(40) * Scale, $"the run took {clock.Elapsed}");
    }
}

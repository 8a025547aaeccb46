using System.CommandLine;
using System.Diagnostics;

namespace Bento.Cli.Commands;

/// <summary>
/// <c>bento serve TAG</c>: resolves the bento in the store and runs the runtime on it — the same executable and
/// settings resolution a container image runs. The runtime is a separate program (it carries LibTorch; the CLI
/// does not), started with this process's stdio; its exit code is ours.
/// </summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var tag = new Argument<string>("TAG") { Description = "The bento to serve (NAME, NAME:VERSION, ...)" };
        var command = new Command("serve", "Serve a bento with the OpenAI-compatible runtime") { tag };
        var forwarded = new List<Option>
        {
            new Option<string>("--host") { Description = "Address to listen on (env BENTO_HOST; default 0.0.0.0)" },
            new Option<int?>("--port") { Description = "Port (env BENTO_PORT; default: the bento's, else 3000)" },
            new Option<bool>("--enforce-eager") { Description = "Disable CUDA graphs (overrides the bento and BENTO_ENFORCE_EAGER unless locked)" },
            new Option<bool>("--no-enforce-eager") { Description = "Allow CUDA graphs (same precedence)" },
            new Option<string>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on /v1 (env BENTO_API_KEY)" },
            new Option<int?>("--max-model-len") { Description = "Context length (env BENTO_MAX_MODEL_LEN)" },
            new Option<int?>("--max-num-seqs") { Description = "Concurrent sequences (env BENTO_MAX_NUM_SEQS)" },
            new Option<string>("--dtype") { Description = "auto, float32, float16 or bfloat16 (env BENTO_DTYPE)" },
            new Option<double?>("--gpu-memory-utilization") { Description = "Fraction of GPU memory to use (env BENTO_GPU_MEMORY_UTILIZATION)" },
        };
        foreach (var option in forwarded) command.Options.Add(option);
        command.SetGuardedAction(async (parse, ct) =>
        {
            var bento = CommandRunner.Store().Resolve(CommandRunner.Tag(parse, tag));
            var runtime = LocateRuntime();
            var start = new ProcessStartInfo("dotnet") { UseShellExecute = false };
            start.ArgumentList.Add(runtime);
            start.ArgumentList.Add("--bento");
            start.ArgumentList.Add(bento.Directory);
            // Forward exactly the flags the user gave, as given; the runtime validates them with its own rules.
            foreach (var token in parse.Tokens.Where(t => t.Type == System.CommandLine.Parsing.TokenType.Option || t.Type == System.CommandLine.Parsing.TokenType.Argument).SkipWhile(t => t.Value != parse.GetValue(tag)).Skip(1).Where(t => t.Value != "--verbose"))
                start.ArgumentList.Add(token.Value);
            using var process = Process.Start(start) ?? throw new Bento.Core.BentoException("could not start the runtime");
            try { await process.WaitForExitAsync(ct); }
            catch (OperationCanceledException)
            {
                // Ctrl+C reached the runtime too (same process group); give it time to drain.
                if (!process.WaitForExit(TimeSpan.FromSeconds(15))) process.Kill(entireProcessTree: true);
            }
            return process.ExitCode;
        });
        return command;
    }

    /// <summary>BENTO_RUNTIME, else the runtime the launcher built next to the CLI (.build/runtime).</summary>
    private static string LocateRuntime()
    {
        var configured = Environment.GetEnvironmentVariable("BENTO_RUNTIME");
        var candidate = !string.IsNullOrEmpty(configured)
            ? configured
            : Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "runtime", "bento-runtime.dll"));
        if (!File.Exists(candidate))
            throw new Bento.Core.BentoException($"the runtime was not found at {candidate}; run 'bento serve' through the ./bento launcher (it builds the runtime) or set BENTO_RUNTIME");
        return candidate;
    }
}

using System.CommandLine;
using Bento.Core;
using Bento.Core.Store;

namespace Bento.Cli;

/// <summary>
/// Runs a command body and turns failures into the CLI contract: one line on stderr, exit 1 (2 for usage), and a
/// stack trace only with <c>--verbose</c>.
/// </summary>
public static class CommandRunner
{
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Show stack traces and extra detail on errors", Recursive = true };

    public static void SetGuardedAction(this Command command, Func<ParseResult, CancellationToken, Task<int>> body) =>
        command.SetAction(async (ParseResult parse, CancellationToken ct) =>
        {
            var verbose = parse.GetValue(Verbose);
            try
            {
                return await body(parse, ct);
            }
            catch (BentoException e)
            {
                Report($"error: {e.Message}", e, verbose);
                return e.ExitCode;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                Console.Error.WriteLine("error: interrupted; nothing was changed");
                return 130;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Report($"error: {e.Message}", e, verbose);
                return 1;
            }
            catch (Exception e)
            {
                Report($"error: internal error ({e.GetType().Name}: {e.Message}); please report it with the output of --verbose", e, verbose);
                return 1;
            }
        });

    /// <summary>
    /// The error line (and with --verbose the stack trace), with credentials pasted into a reference or URL
    /// (<c>https://me:TOKEN@ghcr.io/…</c>) masked: messages quote what the user typed, and logs keep them.
    /// </summary>
    private static void Report(string line, Exception e, bool verbose)
    {
        Console.Error.WriteLine(Bento.Images.Registry.Auth.Redaction.Message(line));
        if (verbose) Console.Error.WriteLine(Bento.Images.Registry.Auth.Redaction.Message(e.ToString()));
    }

    public static BentoStore Store() => BentoStore.Open();

    public static BentoTag Tag(ParseResult parse, Argument<string> argument) => Tag(parse, parse.GetValue(argument)!);

    public static BentoTag Tag(ParseResult parse, string text)
    {
        // System.CommandLine hands unknown options to a string argument; say what they are.
        if (text.StartsWith('-')) throw UsageErrors.UnknownOption(parse.CommandResult.Command, text);
        return BentoTag.Parse(text);
    }
}

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
                Console.Error.WriteLine($"error: {e.Message}");
                if (verbose) Console.Error.WriteLine(e);
                return e.ExitCode;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                Console.Error.WriteLine("error: interrupted; nothing was changed");
                return 130;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                if (verbose) Console.Error.WriteLine(e);
                return 1;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"error: internal error ({e.GetType().Name}: {e.Message}); please report it with the output of --verbose");
                if (verbose) Console.Error.WriteLine(e);
                return 1;
            }
        });

    public static BentoStore Store() => BentoStore.Open();

    public static BentoTag Tag(ParseResult parse, Argument<string> argument)
    {
        var text = parse.GetValue(argument)!;
        // System.CommandLine hands unknown options to a string argument; say what they are.
        if (text.StartsWith('-')) throw new UsageException($"unknown option '{text}' (see 'bento {parse.CommandResult.Command.Name} --help')");
        return BentoTag.Parse(text);
    }
}

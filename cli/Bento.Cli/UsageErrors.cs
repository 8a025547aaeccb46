using System.CommandLine;
using System.CommandLine.Parsing;
using Bento.Core;
using Bento.Core.Spec;

namespace Bento.Cli;

/// <summary>
/// Parse errors as one line with a "did you mean" (<c>bento bulid</c>: did you mean 'build'?), exit code 2, in place of
/// System.CommandLine's generic "Unrecognized command or argument".
/// </summary>
public static partial class UsageErrors
{
    /// <summary>Prints the first problem of <paramref name="parsed"/> and returns the exit code for usage errors.</summary>
    public static int Report(ParseResult parsed)
    {
        var command = parsed.CommandResult.Command;
        // An unknown option is often bound to an argument (`bento export --fast TAG FILE`), which then pushes a real
        // argument out as "unmatched": the option is the mistake to name.
        var optionLike = parsed.Tokens.FirstOrDefault(t => t.Type == TokenType.Argument && t.Value.Length > 1 && t.Value.StartsWith('-') &&
                                                           !char.IsDigit(t.Value[1]) && parsed.UnmatchedTokens.Count > 0)?.Value;
        var message = optionLike is not null ? UnknownOption(command, optionLike).Message
            : parsed.UnmatchedTokens.Count > 0 ? Unmatched(command, parsed.UnmatchedTokens[0]).Message
            : $"{Plain(OneLine(parsed.Errors[0].Message)).TrimEnd('.')} (see '{Usage(command)} --help')";
        Console.Error.WriteLine($"error: {message}");
        return 2;
    }

    private static UsageException Unmatched(Command command, string token)
    {
        if (token.StartsWith('-')) return UnknownOption(command, token);
        var visible = command.Subcommands.Where(c => !c.Hidden).ToList();
        if (visible.Count > 0)
        {
            var hint = Suggest.Closest(token, visible.SelectMany(c => c.Aliases.Prepend(c.Name)));
            return new UsageException($"unknown command '{token}' for '{Usage(command)}'" +
                                      (hint is null ? "" : $"; did you mean '{hint}'?") + $" (see '{Usage(command)} --help')");
        }
        return new UsageException($"unexpected argument '{token}' for '{Usage(command)}' (see '{Usage(command)} --help')");
    }

    /// <summary>An option <paramref name="command"/> does not have, with the closest one it does have.</summary>
    public static UsageException UnknownOption(Command command, string token)
    {
        var name = token.Split('=', 2)[0];
        var options = Lineage(command).SelectMany(c => c.Options.Where(o => !o.Hidden))
            .SelectMany(o => o.Aliases.Prepend(o.Name)).Distinct().ToList();
        // --json is what kubectl-style habits type; the output option is -o json.
        var hint = name.StartsWith("--js", StringComparison.Ordinal) && options.Contains("--output") ? "-o json" : Suggest.Closest(name, options);
        return new UsageException($"unknown option '{name}' for '{Usage(command)}'" +
                                  (hint is null ? "" : $"; did you mean '{hint}'?") + $" (see '{Usage(command)} --help')");
    }

    private static IEnumerable<Command> Lineage(Command command)
    {
        yield return command;
        foreach (var parent in command.Parents.OfType<Command>())
            foreach (var c in Lineage(parent)) yield return c;
    }

    /// <summary>
    /// System.CommandLine names .NET types when a value does not convert ("as expected type
    /// 'System.Nullable`1[System.Int32]'"); say what is expected in words.
    /// </summary>
    private static string Plain(string message)
    {
        var m = CannotParse().Match(message);
        if (!m.Success) return message;
        var expected = m.Groups["type"].Value switch
        {
            var t when t.Contains("Int32") => $"a whole number from {int.MinValue} to {int.MaxValue}",
            var t when t.Contains("Int64") => $"a whole number from {long.MinValue} to {long.MaxValue}",
            var t when t.Contains("Double") => "a number",
            var t when t.Contains("Boolean") => "true or false",
            _ => "a value of another kind",
        };
        return $"{m.Groups["option"].Value}: '{m.Groups["value"].Value}' is not {expected}";
    }

    [System.Text.RegularExpressions.GeneratedRegex("^Cannot parse argument '(?<value>.*)' for (?:option|argument) '(?<option>[^']*)' as expected type '(?<type>[^']*)'")]
    private static partial System.Text.RegularExpressions.Regex CannotParse();

    /// <summary>System.CommandLine lists allowed values on lines of their own; the error contract is one line.</summary>
    private static string OneLine(string message) =>
        string.Join(" ", message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));

    private static string Usage(Command command) => command is RootCommand ? "bento" : $"bento {command.Name}";
}

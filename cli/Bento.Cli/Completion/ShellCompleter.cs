using System.CommandLine;

namespace Bento.Cli.Completion;

/// <summary>
/// The candidates for the word under the cursor of a <c>bento ...</c> command line, from System.CommandLine's own
/// completion (subcommands, options, option values, and the TAG arguments' store completion).
/// </summary>
public static class ShellCompleter
{
    public const string CommandName = "__complete";

    /// <param name="line">The command line up to the cursor, starting with the program name (as shells give it).</param>
    public static IReadOnlyList<string> Complete(RootCommand root, string line)
    {
        var words = line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
        // A line ending in a space completes a new, empty word; otherwise the last word is the one being completed.
        var current = "";
        if (line.Length > 0 && !char.IsWhiteSpace(line[^1]) && words.Count > 0)
        {
            current = words[^1];
            words.RemoveAt(words.Count - 1);
        }
        var parse = root.Parse([.. words, current]);
        return parse.GetCompletions()
            .Select(c => c.Label)
            // "/?", "/h" and "-?" are Windows-style help aliases: noise in a Unix shell's completion list.
            .Where(label => label.StartsWith(current, StringComparison.Ordinal) && label != CommandName && !label.StartsWith('/') && label != "-?")
            .Distinct()
            .ToList();
    }
}

using System.CommandLine.Completions;
using Bento.Core.Store;

namespace Bento.Cli;

/// <summary>Shell completion of TAG arguments from the local store (<c>bento completion</c> scripts ask for these).</summary>
public static class TagCompletion
{
    public static IEnumerable<CompletionItem> Source(CompletionContext context)
    {
        try
        {
            return BentoSelector.CompletionTags(CommandRunner.Store())
                .Where(t => t.StartsWith(context.WordToComplete, StringComparison.Ordinal))
                .Select(t => new CompletionItem(t)).ToList();
        }
        catch (Exception e) when (e is Core.BentoException or IOException or UnauthorizedAccessException)
        {
            return []; // completion must never print errors into the user's command line
        }
    }
}

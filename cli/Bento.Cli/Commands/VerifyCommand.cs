using System.CommandLine;
using Bento.Core;
using Bento.Core.Store;

namespace Bento.Cli.Commands;

/// <summary>
/// <c>bento verify [TAG] [--clean]</c>: re-hash the store and name what is corrupt, and (for the whole store) what
/// interrupted commands left behind; exit 1 if anything is wrong.
/// </summary>
public static class VerifyCommand
{
    public static Command Create()
    {
        var tag = new Argument<string?>("TAG") { Description = "Only this bento (default: all, and leftovers of interrupted commands)", Arity = ArgumentArity.ZeroOrOne };
        tag.CompletionSources.Add(TagCompletion.Source);
        var clean = new Option<bool>("--clean")
        {
            Description = "Remove what interrupted commands left in the store (work directories, partial files, blobs no bento uses); " +
                          "the next build, import or delete does it too",
        };
        var command = new Command("verify", "Re-hash bentos in the store and report corruption and leftovers") { tag, clean };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var store = CommandRunner.Store();
            var text = parse.GetValue(tag);
            if (text is not null && parse.GetValue(clean))
                throw new UsageException("--clean works on the whole store; run 'bento verify --clean' without a tag");
            var bentos = text is null ? store.List().ToList() : [store.Resolve(CommandRunner.Tag(parse, text))];
            var problems = await new StoreVerifier(store).VerifyAsync(bentos, t => Console.Error.WriteLine($"checked {t}"), ct);
            foreach (var problem in problems) Console.Out.WriteLine($"CORRUPT {problem}");

            IReadOnlyList<Leftover> leftovers = [];
            if (text is null && parse.GetValue(clean))
            {
                using (await store.LockAsync(Console.Error.WriteLine, ct))
                    foreach (var removed in store.RemoveLeftovers()) Console.Error.WriteLine($"removed {removed}");
            }
            if (text is null) leftovers = StoreLeftovers.Find(store);
            foreach (var leftover in leftovers) Console.Out.WriteLine($"LEFTOVER {leftover}");

            if (problems.Count > 0)
                Console.Error.WriteLine($"error: {problems.Count} problem(s) in {problems.Select(p => p.Tag).Distinct().Count()} bento(s); rebuild them (bento build) or re-import them (bento import), which repairs them");
            if (leftovers.Count > 0)
                Console.Error.WriteLine($"error: {leftovers.Count} leftover(s) of interrupted commands ({InputLimits.Bytes(leftovers.Sum(l => l.Bytes))}); " +
                                        "'bento verify --clean' removes them, and so does the next build, import or delete");
            if (problems.Count > 0 || leftovers.Count > 0) return 1;
            Console.Out.WriteLine($"OK {bentos.Count} bento(s) verified");
            return 0;
        });
        return command;
    }
}

using System.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Bento.Core.Spec;

/// <summary>
/// A pass over a YAML document's parser events (YamlDotNet's parser is an iterative state machine, so this pass
/// itself cannot overflow the stack) that refuses, before any recursive loader or walker sees the document:
/// a text over <see cref="InputLimits.YamlBytes"/>, nesting deeper than <see cref="InputLimits.YamlDepth"/>, more
/// than <see cref="InputLimits.YamlNodes"/> nodes once aliases are expanded ("billion laughs"), and an alias to a
/// node that contains it (<c>x: &amp;a [*a]</c>), which would make every tree walk endless. Sizes are computed per
/// anchor, never by expanding, so the pass is linear in the text.
/// </summary>
public static class YamlBounds
{
    /// <summary>Throws a located <see cref="SpecException"/> (<paramref name="display"/> names the file) unless the document is within bounds.</summary>
    public static void Check(string text, string display)
    {
        var bytes = Encoding.UTF8.GetByteCount(text);
        if (bytes > InputLimits.YamlBytes.Value)
            throw new BentoException($"{display}: {InputLimits.Bytes(bytes)} ({bytes} bytes) exceeds the {InputLimits.YamlBytes.Size} limit for a YAML file; " +
                                     $"{InputLimits.YamlBytes.RaiseHint} if the file is genuine");

        var parser = new Parser(new StringReader(text));
        var open = new Stack<Open>();
        // Expanded size and height of each anchored node that is complete; an anchor on a still-open node maps to
        // Definition.Pending, so an alias to it is recursive.
        var anchors = new Dictionary<string, Definition>(StringComparer.Ordinal);
        var streamNodes = 0L;
        var definitions = 0L;

        void Complete(long size, long height, string? anchor, long definition, Mark at)
        {
            if (anchor is not null && anchors.TryGetValue(anchor, out var current) && current.Id == definition)
                anchors[anchor] = current with { Size = size, Height = height, Pending = false };
            if (open.Count == 0)
            {
                streamNodes = Saturating(streamNodes, size);
                if (streamNodes > InputLimits.YamlNodes.Value) throw TooManyNodes(display, at);
                return;
            }
            var parent = open.Pop();
            parent = parent with { Size = Saturating(parent.Size, size), ChildHeight = Math.Max(parent.ChildHeight, height) };
            if (parent.Size > InputLimits.YamlNodes.Value) throw TooManyNodes(display, at);
            open.Push(parent);
        }

        long Define(string? anchor)
        {
            if (anchor is null) return 0;
            anchors[anchor] = new Definition(++definitions, 0, 0, Pending: true);
            return definitions;
        }

        try
        {
            while (parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case DocumentStart:
                        anchors.Clear(); // anchors are per document; the node count is for the whole stream
                        break;
                    case Scalar scalar:
                    {
                        var anchor = AnchorOf(scalar);
                        Complete(1, 0, anchor, Define(anchor), scalar.Start);
                        break;
                    }
                    case AnchorAlias alias:
                    {
                        var name = alias.Value.Value;
                        if (!anchors.TryGetValue(name, out var target))
                        {
                            Complete(1, 0, null, 0, alias.Start); // the loader reports the unknown anchor, located
                            break;
                        }
                        if (target.Pending)
                            throw new SpecException(display, alias.Start, "",
                                $"alias *{name} refers to a node that contains it (a recursive alias), which cannot be expanded; repeat the value instead");
                        if (open.Count + target.Height > InputLimits.YamlDepth.Value) throw TooDeep(display, alias.Start, $" once alias *{name} is expanded");
                        Complete(target.Size, target.Height, null, 0, alias.Start);
                        break;
                    }
                    case NodeEvent start when start is MappingStart or SequenceStart:
                    {
                        if (open.Count + 1 > InputLimits.YamlDepth.Value) throw TooDeep(display, start.Start, "");
                        var anchor = AnchorOf(start);
                        open.Push(new Open(1, 0, anchor, Define(anchor)));
                        break;
                    }
                    case MappingEnd or SequenceEnd:
                    {
                        var done = open.Pop();
                        Complete(done.Size, done.ChildHeight + 1, done.Anchor, done.Definition, parser.Current.Start);
                        break;
                    }
                }
            }
        }
        catch (YamlException)
        {
            // Malformed YAML: the loader that runs next reports it with its own location and wording.
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet fails this way (instead of a YamlException) on some malformed scalars and tags ("!!]"): the
            // loader would fail the same way, so report it here, located after the last event read.
            var at = parser.Current?.End ?? Mark.Empty;
            throw new SpecException(display, at, "", "invalid YAML after this point (a malformed scalar or tag: check quotes, tabs, '!' and ':' in values)");
        }
    }

    private static string? AnchorOf(NodeEvent node) => node.Anchor.IsEmpty ? null : node.Anchor.Value;

    private static long Saturating(long a, long b) => a > long.MaxValue - b - 1 ? long.MaxValue - 1 : a + b;

    private static SpecException TooDeep(string display, Mark at, string how) =>
        new(display, at, "", $"YAML nested deeper than the {InputLimits.YamlDepth.Value}-level limit{how}; " +
                             $"flatten the document ({InputLimits.YamlDepth.RaiseHint} if it is genuine)");

    private static SpecException TooManyNodes(string display, Mark at) =>
        new(display, at, "", $"YAML document has more than the {InputLimits.YamlNodes.Value} nodes allowed once aliases are expanded " +
                             $"(an alias bomb?); write it without so many aliases ({InputLimits.YamlNodes.RaiseHint} if it is genuine)");

    private readonly record struct Open(long Size, long ChildHeight, string? Anchor, long Definition);

    private readonly record struct Definition(long Id, long Size, long Height, bool Pending);
}

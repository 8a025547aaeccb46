using System.Runtime.CompilerServices;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Engine.Guided;

/// <summary>
/// Compiles <see cref="GuidedSpec"/>s for a tokenizer and keeps the most recently used ones, so requests repeating a
/// schema (the usual case: an application sends the same response_format every time) share one automaton and every
/// token mask computed for it.
/// </summary>
public static class GuidedCompiler
{
    private const int CacheSize = 32;
    private static readonly ConditionalWeakTable<ITextTokenizer, Lru> Caches = new();

    /// <summary>Builds the vocabulary's token trie now (at model load), so the first constrained request does not wait for it.</summary>
    public static void Prepare(ITextTokenizer tokenizer) => TokenTrie.For(tokenizer);

    /// <param name="extraStopIds">The request's stop_token_ids, which end the output like EOS.</param>
    public static GuidedConstraint Compile(ITextTokenizer tokenizer, GuidedSpec spec, IEnumerable<int>? extraStopIds = null)
    {
        var trie = TokenTrie.For(tokenizer);
        var machine = Caches.GetValue(tokenizer, _ => new Lru()).Get(spec.Key, () => new GrammarMachine(spec.Build(), trie, spec.Kind));
        return new GuidedConstraint(machine, trie, tokenizer.StopTokenIds.Concat(extraStopIds ?? []).ToList());
    }

    private sealed class Lru
    {
        private readonly LinkedList<(string Key, GrammarMachine Machine)> _order = new();
        private readonly Dictionary<string, LinkedListNode<(string, GrammarMachine)>> _index = new(StringComparer.Ordinal);

        public GrammarMachine Get(string key, Func<GrammarMachine> create)
        {
            lock (this)
            {
                if (_index.TryGetValue(key, out var node))
                {
                    _order.Remove(node);
                    _order.AddFirst(node);
                    return node.Value.Item2;
                }
            }
            var machine = create();
            lock (this)
            {
                if (_index.TryGetValue(key, out var raced)) return raced.Value.Item2;
                _index[key] = _order.AddFirst((key, machine));
                while (_order.Count > CacheSize)
                {
                    _index.Remove(_order.Last!.Value.Key);
                    _order.RemoveLast();
                }
                return machine;
            }
        }
    }
}

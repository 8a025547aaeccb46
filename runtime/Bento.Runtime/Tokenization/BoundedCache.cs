using System.Collections.Concurrent;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// A thread-safe memo that stops growing at a fixed number of entries.
/// </summary>
/// <remarks>
/// Prompts repeat the same words constantly, so remembering each pre-token's ids skips most BPE work.
/// Like the tokenizers library we simply stop inserting once full instead of evicting: the common words
/// arrive first and stay, and a server fed adversarial text cannot grow memory without bound.
/// </remarks>
internal sealed class BoundedCache<TKey, TValue>(int capacity) where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, TValue> _entries = new();
    private int _count;

    public bool TryGet(TKey key, out TValue value) => _entries.TryGetValue(key, out value!);

    public void TryAdd(TKey key, TValue value)
    {
        if (Volatile.Read(ref _count) >= capacity)
            return;
        if (_entries.TryAdd(key, value))
            Interlocked.Increment(ref _count);
    }
}

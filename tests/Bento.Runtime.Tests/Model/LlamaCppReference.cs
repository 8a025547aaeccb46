using LLama;
using LLama.Common;
using LLama.Native;

namespace Bento.Runtime.Tests.Model;

/// <summary>llama.cpp (through LLamaSharp 0.30) on a GGUF file: the reference our runner is checked against.</summary>
internal sealed class LlamaCppReference : IDisposable
{
    private static readonly object LogGate = new();
    private static bool _logConfigured;
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;

    public LlamaCppReference(string ggufPath, int contextSize = 512, int threads = 2, bool flashAttention = false)
    {
        lock (LogGate)
        {
            if (!_logConfigured)
            {
                NativeLibraryConfig.All.WithLogCallback((level, message) => { if (level >= LLamaLogLevel.Error || Environment.GetEnvironmentVariable("BENTO_LLAMA_LOG") == "1") Console.Error.Write(message); });
                _logConfigured = true;
            }
        }
        var parameters = new ModelParams(ggufPath)
        {
            ContextSize = (uint)contextSize,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
            BatchSize = (uint)contextSize,
            UBatchSize = (uint)contextSize,
            // float32 KV cache: llama.cpp's default f16 cache would round keys/values and blur the comparison.
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
        };
        // ggml's CPU flash-attention kernel rounds through float16 (~4e-4 relative error in the logits, measured
        // against a float64 run of our model); the plain attention path is float32 end to end (~1e-6).
        if (!flashAttention) parameters.FlashAttention = false;
        _weights = LLamaWeights.LoadFromFile(parameters);
        _context = _weights.CreateContext(parameters);
    }

    public int VocabSize => _context.Vocab.Count;

    /// <summary>Appends tokens at [position, position + n) of sequence 0; returns the last token's logits.</summary>
    public float[] Decode(ReadOnlySpan<int> tokens, int position)
    {
        var batch = new LLamaBatch();
        for (var i = 0; i < tokens.Length; i++)
            batch.Add(tokens[i], position + i, LLamaSeqId.Zero, i == tokens.Length - 1);
        var result = _context.Decode(batch);
        if (result != DecodeResult.Ok)
            throw new InvalidOperationException($"llama_decode failed: {result}");
        return _context.NativeHandle.GetLogitsIth(batch.TokenCount - 1).ToArray();
    }

    /// <summary>Forgets sequence 0 (the KV cache) so a new prompt can start at position 0.</summary>
    public void Reset() => _context.NativeHandle.MemoryClear(true);

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}

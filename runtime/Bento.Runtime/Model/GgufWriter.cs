using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Bento.Core.Model;

namespace Bento.Runtime.Model;

/// <summary>Tensor element types of GGUF that we write (ggml_type numbering).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
}

/// <summary>
/// A GGUF v3 file writer: metadata key/values, then tensor infos, then the aligned tensor data. Used to hand the
/// same weights to llama.cpp (tests and the decode benchmark). Layout rules: little-endian; strings are a u64 length
/// plus UTF-8 bytes; tensor dimensions are stored innermost first (a row-major [out, in] matrix is ne = [in, out]);
/// each tensor's offset, relative to the start of the data section, is a multiple of general.alignment (32 unless
/// the key says otherwise), and the data section itself starts at an aligned file offset.
/// </summary>
public sealed class GgufWriter
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian u32
    public const uint Version = 3;
    public const int Alignment = 32;

    private enum ValueType : uint
    {
        UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8,
        Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
    }

    private readonly List<(string Key, Action<BinaryWriter> Write)> _metadata = [];
    private readonly List<(string Name, long[] Dims, GgmlType Type, Action<Stream> WriteData)> _tensors = [];

    public GgufWriter() => AddUInt32("general.alignment", Alignment);

    public void AddUInt32(string key, uint value) => Add(key, w => { w.Write((uint)ValueType.UInt32); w.Write(value); });
    public void AddInt32(string key, int value) => Add(key, w => { w.Write((uint)ValueType.Int32); w.Write(value); });
    public void AddFloat32(string key, float value) => Add(key, w => { w.Write((uint)ValueType.Float32); w.Write(value); });
    public void AddBool(string key, bool value) => Add(key, w => { w.Write((uint)ValueType.Bool); w.Write((byte)(value ? 1 : 0)); });
    public void AddString(string key, string value) => Add(key, w => { w.Write((uint)ValueType.String); WriteString(w, value); });

    public void AddStringArray(string key, IReadOnlyList<string> values) => Add(key, w =>
    {
        w.Write((uint)ValueType.Array);
        w.Write((uint)ValueType.String);
        w.Write((ulong)values.Count);
        foreach (var v in values) WriteString(w, v);
    });

    public void AddInt32Array(string key, IReadOnlyList<int> values) => Add(key, w =>
    {
        w.Write((uint)ValueType.Array);
        w.Write((uint)ValueType.Int32);
        w.Write((ulong)values.Count);
        foreach (var v in values) w.Write(v);
    });

    private void Add(string key, Action<BinaryWriter> write)
    {
        if (_metadata.Any(m => m.Key == key))
            _metadata.RemoveAll(m => m.Key == key);
        _metadata.Add((key, write));
    }

    /// <summary>Adds a tensor; <paramref name="dims"/> innermost first; <paramref name="writeData"/> must write exactly
    /// product(dims) elements of <paramref name="type"/>.</summary>
    public void AddTensor(string name, long[] dims, GgmlType type, Action<Stream> writeData) => _tensors.Add((name, dims, type, writeData));

    public static long ByteSize(long[] dims, GgmlType type) =>
        dims.Aggregate(1L, (a, b) => a * b) * (type == GgmlType.F32 ? 4 : 2);

    public void Write(string path)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        using var w = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, write) in _metadata)
        {
            WriteString(w, key);
            write(w);
        }
        long offset = 0;
        var offsets = new long[_tensors.Count];
        for (var i = 0; i < _tensors.Count; i++)
        {
            var (name, dims, type, _) = _tensors[i];
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (var d in dims) w.Write((ulong)d);
            w.Write((uint)type);
            w.Write((ulong)offset);
            offsets[i] = offset;
            offset = Align(offset + ByteSize(dims, type));
        }
        w.Flush();
        Pad(file);
        var dataStart = file.Position;
        for (var i = 0; i < _tensors.Count; i++)
        {
            var (name, dims, type, writeData) = _tensors[i];
            var expectedStart = dataStart + offsets[i];
            while (file.Position < expectedStart) file.WriteByte(0);
            writeData(file);
            var written = file.Position - expectedStart;
            if (written != ByteSize(dims, type))
                throw new InvalidOperationException($"tensor {name}: wrote {written} bytes, expected {ByteSize(dims, type)}");
        }
        Pad(file);
    }

    private static long Align(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(Stream s)
    {
        while (s.Position % Alignment != 0) s.WriteByte(0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }
}

/// <summary>
/// Converts a Hugging Face folder of one of the served families (config.json, tokenizer.json, safetensors) into a GGUF
/// llama.cpp loads, the way llama.cpp's convert_hf_to_gguf.py does: tensor renaming (token_embd, blk.N.attn_q, ...),
/// the byte-level BPE tokenizer as tokenizer.ggml.model "gpt2", and per family:
/// <list type="bullet">
/// <item>Llama/Mistral (GGUF architecture "llama"): q_proj and k_proj rows permuted from the rotate-half RoPE layout
/// of Hugging Face to the interleaved pairs llama.cpp's LLAMA rope type rotates; llama3 rope scaling as a rope_freqs
/// tensor.</item>
/// <item>Qwen2 ("qwen2"): also blk.N.attn_q/k/v.bias. Qwen3 ("qwen3"): also blk.N.attn_q_norm/attn_k_norm.weight.</item>
/// <item>Phi-3 ("phi3"): the fused blk.N.attn_qkv and blk.N.ffn_up (gate | up) as they are; rope.dimension_count is
/// the rotated part of a head; LongRoPE as rope_factors_short/long tensors, rope.scaling.attn_factor and
/// rope.scaling.original_context_length.</item>
/// <item>Gemma 2 ("gemma2") and Gemma 3 ("gemma3"): every norm weight stored as 1 + w (llama.cpp multiplies by it
/// plainly), post_attention_norm / ffn_norm (pre-feed-forward) / post_ffw_norm, the soft-caps and the sliding window
/// as metadata; Gemma 3 also its q/k norms, rope.freq_base_swa and a linear rope scaling of its global layers.</item>
/// </list>
/// All but "llama" use llama.cpp's NEOX rope type, which is rotate-half like Hugging Face, so nothing else is permuted.
/// Reads the checkpoint with plain file I/O (no LibTorch), one tensor at a time.
/// </summary>
public static class LlamaGgufExporter
{
    /// <summary>llama.cpp's architecture name for a config.json model_type; also the prefix of its metadata keys.</summary>
    public static string GgufArchitecture(ModelConfig config) => config.ModelType switch
    {
        "llama" or "mistral" => "llama",
        "qwen2" => "qwen2",
        "qwen3" => "qwen3",
        "phi3" => "phi3",
        "gemma2" => "gemma2",
        "gemma3_text" or "gemma3" => "gemma3", // gemma3: a multimodal checkpoint's text model
        _ => throw new NotSupportedException($"model_type '{config.ModelType}' has no GGUF export (llama, mistral, qwen2, qwen3, phi3, gemma2, gemma3_text, gemma3)"),
    };

    public static void Export(string modelDirectory, string outputPath, GgmlType type = GgmlType.F32, string? preTokenizer = "gpt-2")
    {
        var config = ModelConfig.Load(modelDirectory);
        var arch = GgufArchitecture(config);
        CheckExportable(config, arch);
        // Only llama.cpp's LLAMA rope type rotates interleaved pairs; the others rotate halves as Hugging Face does.
        var interleavedRope = arch == "llama";
        var writer = new GgufWriter();
        writer.AddString("general.architecture", arch);
        writer.AddString("general.name", Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDirectory))));
        writer.AddUInt32("general.file_type", type == GgmlType.F32 ? 0u : 1u); // ALL_F32 / MOSTLY_F16
        writer.AddUInt32($"{arch}.vocab_size", (uint)config.VocabSize);
        writer.AddUInt32($"{arch}.context_length", (uint)config.MaxPositionEmbeddings);
        writer.AddUInt32($"{arch}.embedding_length", (uint)config.HiddenSize);
        writer.AddUInt32($"{arch}.block_count", (uint)config.NumHiddenLayers);
        writer.AddUInt32($"{arch}.feed_forward_length", (uint)config.IntermediateSize);
        writer.AddUInt32($"{arch}.rope.dimension_count", (uint)config.RotaryDim);
        writer.AddUInt32($"{arch}.attention.head_count", (uint)config.NumAttentionHeads);
        writer.AddUInt32($"{arch}.attention.head_count_kv", (uint)config.NumKeyValueHeads);
        writer.AddUInt32($"{arch}.attention.key_length", (uint)config.HeadDim);
        writer.AddUInt32($"{arch}.attention.value_length", (uint)config.HeadDim);
        writer.AddFloat32($"{arch}.attention.layer_norm_rms_epsilon", (float)config.RmsNormEps);
        writer.AddFloat32($"{arch}.rope.freq_base", (float)config.RopeTheta);
        if (config.RopeScaling is { Type: "linear" } linear)
        {
            writer.AddString($"{arch}.rope.scaling.type", "linear");
            writer.AddFloat32($"{arch}.rope.scaling.factor", (float)linear.Factor);
        }
        if (config.RopeScaling is { Type: "longrope" } longRope)
        {
            writer.AddFloat32($"{arch}.rope.scaling.attn_factor", (float)longRope.AttentionFactor);
            writer.AddUInt32($"{arch}.rope.scaling.original_context_length", (uint)longRope.OriginalMaxPositionEmbeddings);
        }
        if (config.SlidingWindow is { } window) writer.AddUInt32($"{arch}.attention.sliding_window", (uint)window);
        if (config.RopeLocalBaseFreq is { } localBase) writer.AddFloat32($"{arch}.rope.freq_base_swa", (float)localBase);
        if (config.AttnLogitSoftcapping is { } attnCap) writer.AddFloat32($"{arch}.attn_logit_softcapping", (float)attnCap);
        if (config.FinalLogitSoftcapping is { } finalCap) writer.AddFloat32($"{arch}.final_logit_softcapping", (float)finalCap);
        AddTokenizer(writer, modelDirectory, config, preTokenizer);

        var headers = OpenHeaders(modelDirectory, config);
        // Gemma's RMSNorm multiplies by (1 + w); llama.cpp's by w, so its converter stores 1 + w.
        var normOffset = config.GemmaBlock ? 1f : 0f;
        void Matrix(string ggufName, string hfName, int permuteHeads = 0)
        {
            var (file, t) = headers[hfName];
            var dims = t.Shape.Reverse().ToArray();
            var outType = t.Shape.Length == 1 ? GgmlType.F32 : type; // norms and biases stay F32, as llama.cpp's converter does
            var offset = hfName.EndsWith("norm.weight", StringComparison.Ordinal) ? normOffset : 0f;
            writer.AddTensor(ggufName, dims, outType, stream =>
            {
                var values = ReadFloats(file, t);
                if (permuteHeads > 0)
                    values = PermuteForInterleavedRope(values, (int)t.Shape[0], (int)t.Shape[1], permuteHeads);
                if (offset != 0)
                    for (var i = 0; i < values.Length; i++) values[i] += offset;
                WriteValues(stream, values, outType);
            });
        }
        void Vector(string ggufName, IReadOnlyList<double> values)
        {
            var floats = values.Select(v => (float)v).ToArray();
            writer.AddTensor(ggufName, [floats.Length], GgmlType.F32, s => WriteValues(s, floats, GgmlType.F32));
        }

        Matrix("token_embd.weight", "model.embed_tokens.weight");
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            var p = $"model.layers.{i}.";
            Matrix($"blk.{i}.attn_norm.weight", p + "input_layernorm.weight");
            if (config.FusedProjections)
            {
                Matrix($"blk.{i}.attn_qkv.weight", p + "self_attn.qkv_proj.weight");
            }
            else
            {
                Matrix($"blk.{i}.attn_q.weight", p + "self_attn.q_proj.weight", interleavedRope ? config.NumAttentionHeads : 0);
                Matrix($"blk.{i}.attn_k.weight", p + "self_attn.k_proj.weight", interleavedRope ? config.NumKeyValueHeads : 0);
                Matrix($"blk.{i}.attn_v.weight", p + "self_attn.v_proj.weight");
            }
            if (config.QkvBias)
            {
                Matrix($"blk.{i}.attn_q.bias", p + "self_attn.q_proj.bias");
                Matrix($"blk.{i}.attn_k.bias", p + "self_attn.k_proj.bias");
                Matrix($"blk.{i}.attn_v.bias", p + "self_attn.v_proj.bias");
            }
            if (config.QkNorm)
            {
                Matrix($"blk.{i}.attn_q_norm.weight", p + "self_attn.q_norm.weight");
                Matrix($"blk.{i}.attn_k_norm.weight", p + "self_attn.k_norm.weight");
            }
            Matrix($"blk.{i}.attn_output.weight", p + "self_attn.o_proj.weight");
            if (config.GemmaBlock)
            {
                Matrix($"blk.{i}.post_attention_norm.weight", p + "post_attention_layernorm.weight");
                Matrix($"blk.{i}.ffn_norm.weight", p + "pre_feedforward_layernorm.weight");
                Matrix($"blk.{i}.post_ffw_norm.weight", p + "post_feedforward_layernorm.weight");
            }
            else
            {
                Matrix($"blk.{i}.ffn_norm.weight", p + "post_attention_layernorm.weight");
            }
            if (config.FusedProjections)
            {
                Matrix($"blk.{i}.ffn_up.weight", p + "mlp.gate_up_proj.weight"); // llama.cpp's phi3 splits it gate | up itself
            }
            else
            {
                Matrix($"blk.{i}.ffn_gate.weight", p + "mlp.gate_proj.weight");
                Matrix($"blk.{i}.ffn_up.weight", p + "mlp.up_proj.weight");
            }
            Matrix($"blk.{i}.ffn_down.weight", p + "mlp.down_proj.weight");
        }
        Matrix("output_norm.weight", "model.norm.weight");
        if (!config.TieWordEmbeddings)
            Matrix("output.weight", "lm_head.weight");
        if (config.RopeScaling is { Type: "llama3" })
        {
            // llama.cpp divides each rotary frequency by rope_freqs[i]: the ratio plain / scaled.
            var plain = (config with { RopeScaling = null }).RopeInverseFrequencies();
            var scaled = config.RopeInverseFrequencies();
            Vector("rope_freqs.weight", plain.Select((f, i) => f / scaled[i]).ToArray());
        }
        if (config.RopeScaling is { Type: "longrope", ShortFactor: { } shortFactor, LongFactor: { } longFactor })
        {
            // llama.cpp picks rope_factors_long when its context exceeds original_context_length, as our runner does.
            Vector("rope_factors_long.weight", longFactor);
            Vector("rope_factors_short.weight", shortFactor);
        }
        writer.Write(outputPath);
    }

    /// <summary>
    /// What a GGUF cannot say for llama.cpp's graph of <paramref name="arch"/>: a Gemma 2 without soft-caps (llama.cpp
    /// always applies them), Gemma's query_pre_attn_scalar other than head_dim (llama.cpp derives the scale from the
    /// model size), interleaving other than the architecture's fixed pattern, Gemma 3 attention soft-capping.
    /// </summary>
    private static void CheckExportable(ModelConfig config, string arch)
    {
        if (config.GemmaBlock && config.QueryPreAttnScalar != config.HeadDim)
            throw new NotSupportedException($"query_pre_attn_scalar {config.QueryPreAttnScalar} != head_dim {config.HeadDim}: llama.cpp's {arch} takes the scale from head_dim (or from the 27B size)");
        if (arch == "gemma2" && (config.AttnLogitSoftcapping is null || config.FinalLogitSoftcapping is null))
            throw new NotSupportedException("llama.cpp's gemma2 always soft-caps attention scores and logits; this config disables one");
        if (arch == "gemma3" && config.AttnLogitSoftcapping is not null)
            throw new NotSupportedException("llama.cpp's gemma3 has no attention soft-capping; this config sets attn_logit_softcapping");
        if (config.GemmaBlock && config.SlidingLayerTypes is not null)
        {
            var pattern = arch == "gemma2" ? 2 : 6;
            for (var layer = 0; layer < config.NumHiddenLayers; layer++)
                if (config.IsSlidingLayer(layer) != ((layer + 1) % pattern != 0))
                    throw new NotSupportedException($"layer_types differ from llama.cpp's fixed {arch} pattern (every {pattern}th layer global) at layer {layer}");
        }
        if (arch == "gemma3" && config.SlidingWindowPattern != 6)
            throw new NotSupportedException($"sliding_window_pattern {config.SlidingWindowPattern}: llama.cpp's gemma3 makes every 6th layer global");
    }

    /// <summary>
    /// Hugging Face rotates (x[i], x[i + d/2]) pairs; llama.cpp's LLAMA rope type rotates (x[2i], x[2i + 1]). Reorder
    /// each head's rows so row 2i + j of the result is row j * d/2 + i of the input (convert_hf_to_gguf's permute).
    /// </summary>
    public static float[] PermuteForInterleavedRope(float[] w, int rows, int cols, int heads)
    {
        var headDim = rows / heads;
        var half = headDim / 2;
        var result = new float[w.Length];
        for (var h = 0; h < heads; h++)
            for (var i = 0; i < half; i++)
                for (var j = 0; j < 2; j++)
                {
                    var src = h * headDim + j * half + i;
                    var dst = h * headDim + 2 * i + j;
                    Array.Copy(w, (long)src * cols, result, (long)dst * cols, cols);
                }
        return result;
    }

    /// <summary>The checkpoint's tensors by the layout's names (a multimodal checkpoint's text model; its vision tower left out).</summary>
    private static Dictionary<string, (SafetensorsHeader File, SafetensorsTensor Tensor)> OpenHeaders(string dir, ModelConfig config)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        var result = new Dictionary<string, (SafetensorsHeader, SafetensorsTensor)>(StringComparer.Ordinal);
        foreach (var path in checkpoint.Files)
        {
            var header = SafetensorsHeader.ReadAsync(path).GetAwaiter().GetResult();
            foreach (var t in header.Tensors)
                if (config.Family.CanonicalTensorName(t.Name) is { } name) result[name] = (header, t);
        }
        return result;
    }

    private static float[] ReadFloats(SafetensorsHeader file, SafetensorsTensor t)
    {
        var bytes = new byte[t.End - t.Begin];
        using (var s = new FileStream(file.FilePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
        {
            s.Position = file.DataOffset + t.Begin;
            s.ReadExactly(bytes);
        }
        var n = checked((int)t.ElementCount);
        var values = new float[n];
        switch (t.DType)
        {
            case "F32":
                for (var i = 0; i < n; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
                break;
            case "F16":
                for (var i = 0; i < n; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes.AsSpan(i * 2));
                break;
            case "BF16":
                for (var i = 0; i < n; i++) values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(i * 2)) << 16);
                break;
            default:
                throw new NotSupportedException($"tensor {t.Name}: dtype {t.DType} cannot be exported to GGUF");
        }
        return values;
    }

    private static void WriteValues(Stream stream, float[] values, GgmlType type)
    {
        var size = type == GgmlType.F32 ? 4 : 2;
        var buffer = new byte[Math.Min(values.Length, 1 << 18) * size];
        for (var start = 0; start < values.Length; start += buffer.Length / size)
        {
            var count = Math.Min(buffer.Length / size, values.Length - start);
            for (var i = 0; i < count; i++)
                if (type == GgmlType.F32) BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * 4), values[start + i]);
                else BinaryPrimitives.WriteHalfLittleEndian(buffer.AsSpan(i * 2), (Half)values[start + i]);
            stream.Write(buffer, 0, count * size);
        }
    }

    /// <summary>tokenizer.ggml.* from tokenizer.json (byte-level BPE): tokens by id, types, merges, special ids.</summary>
    private static void AddTokenizer(GgufWriter writer, string dir, ModelConfig config, string? preTokenizer)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "tokenizer.json")));
        var model = doc.RootElement.GetProperty("model");
        if (model.TryGetProperty("type", out var type) && type.GetString() != "BPE")
            throw new NotSupportedException($"tokenizer model '{type.GetString()}' cannot be exported (byte-level BPE only)");
        var tokens = new string?[config.VocabSize];
        var types = new int[config.VocabSize];
        foreach (var entry in model.GetProperty("vocab").EnumerateObject())
        {
            var id = entry.Value.GetInt32();
            if (id < tokens.Length) { tokens[id] = entry.Name; types[id] = 1; } // NORMAL
        }
        if (doc.RootElement.TryGetProperty("added_tokens", out var added))
            foreach (var t in added.EnumerateArray())
            {
                var id = t.GetProperty("id").GetInt32();
                if (id >= tokens.Length) continue;
                tokens[id] = t.GetProperty("content").GetString();
                types[id] = t.TryGetProperty("special", out var sp) && sp.GetBoolean() ? 3 : 4; // CONTROL / USER_DEFINED
            }
        for (var i = 0; i < tokens.Length; i++)
            if (tokens[i] is null) { tokens[i] = $"[PAD{i}]"; types[i] = 4; }
        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.Array ? $"{m[0].GetString()} {m[1].GetString()}" : m.GetString()!).ToList();

        writer.AddString("tokenizer.ggml.model", "gpt2");
        if (preTokenizer is not null) writer.AddString("tokenizer.ggml.pre", preTokenizer);
        writer.AddStringArray("tokenizer.ggml.tokens", tokens!);
        writer.AddInt32Array("tokenizer.ggml.token_type", types);
        writer.AddStringArray("tokenizer.ggml.merges", merges);
        if (config.BosTokenId is { } bos) writer.AddUInt32("tokenizer.ggml.bos_token_id", (uint)bos);
        if (config.EosTokenIds.Count > 0) writer.AddUInt32("tokenizer.ggml.eos_token_id", (uint)config.EosTokenIds[0]);
        writer.AddBool("tokenizer.ggml.add_bos_token", config.BosTokenId is not null);
    }
}

namespace Bento.ModelGen;

/// <summary>
/// The tensors of a Hugging Face <c>LlamaForCausalLM</c> checkpoint for a <see cref="LlamaConfig"/>:
/// names, shapes, random initialisation, and wrapping of real values.
/// </summary>
public static class LlamaWeights
{
    /// <summary>Standard deviation of the random init (transformers' initializer_range default).</summary>
    public const double InitStdDev = 0.02;

    /// <summary>Every tensor in checkpoint order: embeddings, layers 0..L-1, final norm, lm_head (absent
    /// when the embeddings are tied, because transformers then reuses embed_tokens).</summary>
    public static IReadOnlyList<LlamaTensorSpec> Describe(LlamaConfig config)
    {
        config.Validate();
        long v = config.VocabSize, h = config.HiddenSize, i = config.IntermediateSize;
        long qDim = (long)config.NumAttentionHeads * config.HeadDim;
        long kvDim = (long)config.NumKeyValueHeads * config.HeadDim;

        var family = config.Family;
        // Gemma's norms scale by (1 + w): their identity is 0, and transformers initialises them so.
        var normIdentity = family.IsGemma() ? 0f : 1f;
        LlamaTensorSpec Norm(string name, long size) => new(name, [size], true, normIdentity);

        var specs = new List<LlamaTensorSpec> { new("model.embed_tokens.weight", [v, h], false) };
        for (var layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            var p = $"model.layers.{layer}.";
            // transformers' module registration order (attention, MLP, then the norms).
            if (family.HasFusedProjections())
            {
                specs.Add(new(p + "self_attn.o_proj.weight", [h, qDim], false));
                specs.Add(new(p + "self_attn.qkv_proj.weight", [qDim + 2 * kvDim, h], false));
            }
            else
            {
                specs.Add(new(p + "self_attn.q_proj.weight", [qDim, h], false));
                specs.Add(new(p + "self_attn.k_proj.weight", [kvDim, h], false));
                specs.Add(new(p + "self_attn.v_proj.weight", [kvDim, h], false));
                specs.Add(new(p + "self_attn.o_proj.weight", [h, qDim], false));
            }
            if (family.HasQkvBias())
            {
                specs.Add(new(p + "self_attn.q_proj.bias", [qDim], false));
                specs.Add(new(p + "self_attn.k_proj.bias", [kvDim], false));
                specs.Add(new(p + "self_attn.v_proj.bias", [kvDim], false));
            }
            if (family.HasQkNorm())
            {
                specs.Add(Norm(p + "self_attn.q_norm.weight", config.HeadDim));
                specs.Add(Norm(p + "self_attn.k_norm.weight", config.HeadDim));
            }
            if (family.HasFusedProjections())
            {
                specs.Add(new(p + "mlp.gate_up_proj.weight", [2 * i, h], false));
            }
            else
            {
                specs.Add(new(p + "mlp.gate_proj.weight", [i, h], false));
                specs.Add(new(p + "mlp.up_proj.weight", [i, h], false));
            }
            specs.Add(new(p + "mlp.down_proj.weight", [h, i], false));
            specs.Add(Norm(p + "input_layernorm.weight", h));
            specs.Add(Norm(p + "post_attention_layernorm.weight", h));
            if (family.IsGemma())
            {
                specs.Add(Norm(p + "pre_feedforward_layernorm.weight", h));
                specs.Add(Norm(p + "post_feedforward_layernorm.weight", h));
            }
        }
        specs.Add(Norm("model.norm.weight", h));
        if (!config.TieWordEmbeddings)
            specs.Add(new("lm_head.weight", [v, h], false));
        return specs;
    }

    /// <summary>Bytes of tensor data for a config (the checkpoint index's total_size).</summary>
    public static long TotalBytes(LlamaConfig config) =>
        Describe(config).Sum(s => s.ElementCount) * SafetensorsDType.ElementSize(config.SafetensorsDtype);

    /// <summary>Freshly initialised weights: normal(0, 0.02) for matrices and biases (non-zero, so a loader that
    /// dropped a bias would show), each norm's identity (1.0, or 0.0 for Gemma's (1 + w) norms) for norm scales, stored
    /// in the config's dtype. Each tensor draws from its own streams seeded by (seed, tensor name), so the
    /// values do not depend on tensor order, on how the checkpoint is sharded, or on the core count.</summary>
    public static IReadOnlyList<TensorSource> Random(LlamaConfig config, ulong seed)
    {
        var dtype = config.SafetensorsDtype;
        return Describe(config)
            .Select(spec => spec.IsNormWeight
                ? TensorSource.Constant(spec.Name, dtype, spec.Shape, spec.NormIdentity)
                : TensorSource.FromIndependentChunks(spec.Name, dtype, spec.Shape, NormalChunk(StableHash.TensorSeed(seed, spec.Name))))
            .ToList();
    }

    /// <summary>Weights with given values (e.g. after training), stored in the config's dtype.
    /// <paramref name="values"/> must hold every tensor of <see cref="Describe"/> with the right element
    /// count, row-major, and nothing else.</summary>
    public static IReadOnlyList<TensorSource> FromValues(LlamaConfig config, IReadOnlyDictionary<string, ReadOnlyMemory<float>> values)
    {
        var dtype = config.SafetensorsDtype;
        var specs = Describe(config);
        var unknown = values.Keys.Except(specs.Select(s => s.Name)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"values given for tensors this config does not have: {string.Join(", ", unknown)}", nameof(values));
        return specs
            .Select(spec => values.TryGetValue(spec.Name, out var data)
                ? TensorSource.FromFloats(spec.Name, dtype, spec.Shape, data)
                : throw new ArgumentException($"no values given for tensor '{spec.Name}'", nameof(values)))
            .ToList();
    }

    /// <summary>normal(0, 0.02) values where every chunk of <see cref="TensorSource.ChunkElements"/> has its
    /// own stream, seeded by the tensor seed and the chunk's position, so chunks can be generated in
    /// parallel and still give the same bytes.</summary>
    internal static FloatChunkFiller NormalChunk(ulong tensorSeed) => (firstElement, destination) =>
    {
        var chunkIndex = (ulong)(firstElement / TensorSource.ChunkElements);
        var random = new DeterministicRandom(tensorSeed + chunkIndex * 0xD1B54A32D192ED03UL);
        for (var k = 0; k < destination.Length; k++)
            destination[k] = (float)(InitStdDev * random.NextGaussian());
    };
}

namespace Bento.Core.Model;

/// <summary>
/// The tensors a checkpoint must hold, with shapes and dtypes: the architecture's dense layout
/// (<see cref="LlamaTensorLayout"/>) with every matrix that config.json's <c>quantization_config</c> quantizes
/// replaced by its compressed-tensors tensors (see <see cref="WeightQuantization"/>). <c>bento build</c> checks a
/// model folder against it; the runtime loads the same names.
/// </summary>
public sealed class TensorLayout
{
    private static readonly string[] FloatCodes = ModelContract.WeightDtypeCodes.ToArray();
    private static readonly string[] IntegerCodes = ["I8", "U8", "I16", "I32", "I64"];

    private readonly Dictionary<string, long[]> _required = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long[]> _optional = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string[]> _dtypes = new(StringComparer.Ordinal);

    /// <summary>Tensors that must be present, by name.</summary>
    public IReadOnlyDictionary<string, long[]> Required => _required;

    /// <summary>Tensors that may be present (a symmetric checkpoint's all-zero weight_zero_point).</summary>
    public IReadOnlyDictionary<string, long[]> Optional => _optional;

    /// <summary>The model's parameter count as if no matrix were quantized.</summary>
    public long Parameters { get; private init; }

    /// <summary>Bytes the runtime holds for the weights in <paramref name="dtype"/>: int8 matrices one byte per weight
    /// plus float32 scales; everything else in <paramref name="dtype"/>.</summary>
    public long WeightBytes(ModelDtype dtype) => _quantizedElements + 4 * _scaleElements + (Parameters - _quantizedElements) * dtype.Bytes;

    private long _quantizedElements, _scaleElements;

    /// <summary>The 2-D weights of the dense layout, as (module name, is the embedding): what quantization applies to.</summary>
    public static IEnumerable<(string Module, long[] Shape, bool IsEmbedding)> Matrices(ModelConfig config) =>
        LlamaTensorLayout.Expected(config)
            .Where(e => e.Value.Length == 2 && e.Key.EndsWith(".weight", StringComparison.Ordinal))
            .Select(e => (e.Key[..^".weight".Length], e.Value, e.Key == EmbeddingName));

    public const string EmbeddingName = "model.embed_tokens.weight";

    public static TensorLayout For(ModelConfig config)
    {
        var dense = LlamaTensorLayout.Expected(config);
        var layout = new TensorLayout { Parameters = dense.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b)) };
        foreach (var (name, shape) in dense)
        {
            layout._required[name] = shape;
            layout._dtypes[name] = FloatCodes;
        }
        if (config.Quantization is { } q)
            foreach (var (module, shape, isEmbedding) in Matrices(config).ToList())
            {
                if (!q.Quantizes(module, isEmbedding, config.Family.StoredTensorNames(module))) continue;
                long rows = shape[0], columns = shape[1];
                if (q.Strategy == WeightQuantization.GroupStrategy && columns % q.GroupSize!.Value != 0)
                    throw new BentoException($"config.json: quantization_config: group_size {q.GroupSize} does not divide the {columns} columns of '{module}.weight'");
                if (q.Packed && columns % 4 != 0)
                    throw new BentoException($"config.json: quantization_config: '{module}.weight' has {columns} columns, not a multiple of 4: packed int8 rows would be padded, which is not supported");
                long[] scales = [rows, q.Groups(columns)];
                layout._required.Remove(module + ".weight");
                layout._dtypes.Remove(module + ".weight");
                if (q.Packed)
                {
                    layout.Add(module + ".weight_packed", [rows, columns / 4], ["I32"]);
                    layout.Add(module + ".weight_shape", [2], ["I32", "I64"]);
                }
                else
                    layout.Add(module + ".weight", shape, ["I8"]);
                layout.Add(module + ".weight_scale", scales, FloatCodes);
                layout._optional[module + ".weight_zero_point"] = scales;
                layout._dtypes[module + ".weight_zero_point"] = IntegerCodes;
                layout._quantizedElements += rows * columns;
                layout._scaleElements += rows * scales[1];
            }
        return layout;
    }

    private void Add(string name, long[] shape, string[] dtypes)
    {
        _required[name] = shape;
        _dtypes[name] = dtypes;
    }

    /// <summary>Why tensor <paramref name="name"/> may not be <paramref name="dtype"/>; null when it may.</summary>
    public string? DtypeProblem(string name, string dtype) =>
        !_dtypes.TryGetValue(name, out var allowed) || allowed.Contains(dtype) ? null
        : $"tensor '{name}' is {dtype}; the runtime loads it as {string.Join(" or ", allowed)}" +
          (allowed == FloatCodes && dtype is "I8" or "I32" or "U8" ? " (a quantized tensor here needs a quantization_config in config.json)" : "");
}

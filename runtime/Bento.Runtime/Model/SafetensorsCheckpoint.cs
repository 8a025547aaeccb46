using Bento.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Bento.Runtime.Model;

/// <summary>
/// A safetensors checkpoint (one <c>model.safetensors</c> or shards listed by <c>model.safetensors.index.json</c>)
/// whose tensors are memory-mapped, not read: every file is mapped once per dtype with <c>torch.from_file</c>
/// (private, copy-on-write mapping; pages load lazily as they are touched) and each tensor is a
/// <c>narrow(...).view(shape)</c> of that mapping. A tensor whose byte offset is not a multiple of its element
/// size cannot be such a view; it is read into its own buffer instead (counted in <see cref="CopiedTensors"/>).
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, (SafetensorsHeader File, SafetensorsTensor Tensor)> _tensors = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Path, ScalarType DType), Tensor> _mappings = [];
    private readonly Dictionary<string, WeightFilePages?> _pages = new(StringComparer.Ordinal);
    private int _copied;

    private readonly bool _preparePages;

    private SafetensorsCheckpoint(IEnumerable<SafetensorsHeader> files, Func<string, string?> name, bool preparePages)
    {
        _preparePages = preparePages;
        foreach (var file in files)
            foreach (var t in file.Tensors)
                if (name(t.Name) is { } canonical && !_tensors.TryAdd(canonical, (file, t)))
                    throw new InvalidDataException($"tensor '{canonical}' appears more than once in the checkpoint" + (canonical == t.Name ? "" : $" (as '{t.Name}')"));
        Files = files.Select(f => f.FilePath).ToList();
    }

    public IReadOnlyList<string> Files { get; }
    public IEnumerable<string> Names => _tensors.Keys;
    public int CopiedTensors => _copied;

    /// <summary>How the mapped files sit in the page cache (see <see cref="WeightFilePages"/>) when opened to prepare
    /// them; files under its <see cref="WeightFilePages.MinBytes"/> are not listed.</summary>
    public IReadOnlyCollection<WeightFilePages> Pages => _pages.Values.OfType<WeightFilePages>().ToList();

    /// <summary>Opens a model folder (single file or sharded) or a .safetensors file; reads only the headers.</summary>
    /// <param name="name">The name each stored tensor is known by (null: left out), e.g.
    /// <see cref="ModelContract.Architecture.CanonicalTensorName"/>; default: as stored.</param>
    /// <param name="preparePages">Bring each file into huge pages before mapping it (<see cref="WeightFilePages"/>): for
    /// weights the CPU decodes from the mapping, not for ones copied elsewhere.</param>
    public static SafetensorsCheckpoint Open(string path, Func<string, string?>? name = null, bool preparePages = false)
    {
        var files = new List<string>();
        if (File.Exists(path) && path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            files.AddRange(ShardsFromIndex(path));
        else if (File.Exists(path))
            files.Add(path);
        else if (File.Exists(Path.Combine(path, IndexFileName)))
            files.AddRange(ShardsFromIndex(Path.Combine(path, IndexFileName)));
        else if (File.Exists(Path.Combine(path, SingleFileName)))
            files.Add(Path.Combine(path, SingleFileName));
        else
            throw new FileNotFoundException($"{path}: no {SingleFileName} or {IndexFileName}");
        var headers = files.Select(f => SafetensorsHeader.ReadAsync(f).GetAwaiter().GetResult()).ToList();
        return new SafetensorsCheckpoint(headers, name ?? (n => n), preparePages);
    }

    private static IEnumerable<string> ShardsFromIndex(string indexPath)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        return Bento.Core.Model.ModelInspector.ReadWeightMap(indexPath).Values.Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal).Select(n => Path.Combine(dir, n)).ToList();
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public SafetensorsTensor Describe(string name) =>
        _tensors.TryGetValue(name, out var e) ? e.Tensor : throw new KeyNotFoundException($"checkpoint has no tensor '{name}'");

    public static ScalarType ToScalarType(string dtype) => dtype switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new NotSupportedException($"safetensors dtype {dtype} is not supported"),
    };

    /// <summary>
    /// The tensor as a view of the file mapping (no copy), or a copy when it is misaligned. The result does not
    /// require grad; it stays valid after <see cref="Dispose"/> (a view keeps its mapping alive).
    /// </summary>
    public Tensor Get(string name)
    {
        if (!_tensors.TryGetValue(name, out var entry))
            throw new KeyNotFoundException($"checkpoint has no tensor '{name}'");
        var (file, t) = entry;
        var dtype = ToScalarType(t.DType);
        var elementSize = SafetensorsHeader.DTypeSizes[t.DType];
        var byteOffset = file.DataOffset + t.Begin;
        var shape = t.Shape;
        if (t.ElementCount == 0)
            return zeros(shape, dtype);
        if (byteOffset % elementSize != 0)
            return ReadCopy(file.FilePath, byteOffset, t.End - t.Begin, shape, dtype);
        using var noGrad = no_grad();
        var mapping = Map(file.FilePath, dtype, elementSize);
        using var slice = mapping.narrow(0, byteOffset / elementSize, t.ElementCount);
        return slice.view(shape);
    }

    /// <summary>
    /// A tensor's raw bytes as a uint8 tensor of <paramref name="shape"/> (its byte count must match), a view of the
    /// file mapping: how compressed-tensors' int32-packed 8-bit weights are read as the bytes they are.
    /// </summary>
    public Tensor GetBytes(string name, long[] shape)
    {
        if (!_tensors.TryGetValue(name, out var entry))
            throw new KeyNotFoundException($"checkpoint has no tensor '{name}'");
        var (file, t) = entry;
        var bytes = t.End - t.Begin;
        if (shape.Aggregate(1L, (a, b) => a * b) != bytes)
            throw new InvalidDataException($"{file.FilePath}: tensor '{name}' has {bytes} bytes, not [{string.Join(", ", shape)}]");
        if (bytes == 0) return zeros(shape, ScalarType.Byte);
        using var noGrad = no_grad();
        var mapping = Map(file.FilePath, ScalarType.Byte, 1);
        using var slice = mapping.narrow(0, file.DataOffset + t.Begin, bytes);
        return slice.view(shape);
    }

    private Tensor Map(string path, ScalarType dtype, int elementSize)
    {
        if (_mappings.TryGetValue((path, dtype), out var mapping))
            return mapping;
        // Hugging Face cache folders hold symlinks to blobs: size the mapping by the file the link points to.
        var elements = Bento.Core.IO.FileLinks.Target(path).Length / elementSize;
        if (_preparePages && !_pages.ContainsKey(path)) _pages[path] = WeightFilePages.Prepare(path);
        mapping = from_file(path, shared: false, size: elements, dtype: dtype);
        AdviseHugePages(mapping, elements * elementSize);
        _mappings[(path, dtype)] = mapping;
        return mapping;
    }

    private Tensor ReadCopy(string path, long byteOffset, long byteLength, long[] shape, ScalarType dtype)
    {
        Interlocked.Increment(ref _copied);
        var result = empty(shape, dtype);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        stream.Position = byteOffset;
        var span = result.bytes;
        if (span.Length != byteLength)
            throw new InvalidDataException($"{path}: tensor at {byteOffset} has {byteLength} bytes, expected {span.Length}");
        stream.ReadExactly(span);
        return result;
    }

    /// <summary>Whether <paramref name="tensor"/>'s data lies inside one of this checkpoint's file mappings.</summary>
    public unsafe bool IsMapped(Tensor tensor)
    {
        var p = (nint)TensorData.Pointer(tensor);
        foreach (var m in _mappings.Values)
        {
            var start = (nint)TensorData.Pointer(m);
            if (p >= start && p < start + (nint)(m.NumberOfElements * m.ElementSize))
                return true;
        }
        return false;
    }

    /// <summary>Asks Linux to map the file's pages with 2 MiB entries (MADV_HUGEPAGE) where the page cache holds 2 MiB
    /// folios, which <see cref="WeightFilePages.Prepare"/> saw to; a refusal (no transparent huge pages) changes nothing.</summary>
    private static unsafe void AdviseHugePages(Tensor mapping, long bytes)
    {
        if (!OperatingSystem.IsLinux() || bytes < 2 << 20) return;
        _ = Bento.Core.IO.Posix.Advise((nint)TensorData.Pointer(mapping), bytes, Bento.Core.IO.Posix.MemoryAdvice.HugePage);
    }

    /// <summary>Drops this object's references to the mappings; tensors handed out keep theirs.</summary>
    public void Dispose()
    {
        foreach (var m in _mappings.Values) m.Dispose();
        _mappings.Clear();
    }
}

/// <summary>Raw data pointers of CPU tensors (the storage offset included).</summary>
internal static unsafe class TensorData
{
    [System.Runtime.InteropServices.DllImport("LibTorchSharp")]
    private static extern nint THSTensor_data(nint handle);

    public static void* Pointer(Tensor t) => (void*)THSTensor_data(t.Handle);
    public static float* Float(Tensor t) => (float*)THSTensor_data(t.Handle);
}

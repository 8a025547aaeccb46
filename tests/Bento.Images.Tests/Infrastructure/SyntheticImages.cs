using Bento.Images.Layers;
using Bento.Images.Layout;
using Bento.Images.Oci;

namespace Bento.Images.Tests.Infrastructure;

/// <summary>
/// Small base images and runtimes for the fast tests: made in-process, deterministically, in a few milliseconds.
/// The base has one gzip layer (os-release, a stand-in usr/bin/bash, bin -> usr/bin) and a config with PATH, a label
/// and BENTO_ENFORCE_EAGER=1 (which an image for an overridable bento must not keep).
/// </summary>
public static class SyntheticImages
{
    public static async Task<string> BaseLayoutAsync(string directory, string architecture = "amd64", string reference = "base", bool withBash = true,
        string? dpkgStatus = null)
    {
        var cache = new LayerCache(Path.Combine(directory + ".cache"));
        var entries = new List<LayerEntry>
        {
            LayerEntry.FromBytes("etc/os-release", "PRETTY_NAME=\"synthetic\"\n"u8.ToArray()),
            LayerEntry.Symlink("bin", "usr/bin"),
            LayerEntry.Directory("tmp"),
        };
        if (withBash) entries.Add(LayerEntry.FromBytes("usr/bin/bash", "#!stand-in\n"u8.ToArray(), executable: true));
        if (dpkgStatus is not null) entries.Add(LayerEntry.FromBytes("var/lib/dpkg/status", System.Text.Encoding.UTF8.GetBytes(dpkgStatus)));
        var built = await new LayerBuilder(cache).BuildAsync(new LayerRecipe("synthetic base", entries, Compress: true, DateTimeOffset.UnixEpoch), default);
        var config = new ImageConfigDocument
        {
            Created = "2025-01-01T00:00:00Z",
            Architecture = architecture,
            Os = "linux",
            Config = new ContainerConfigDocument
            {
                Env = ["PATH=/usr/local/bin:/usr/bin:/bin", "BENTO_ENFORCE_EAGER=1", "BASE_ONLY=yes"],
                Labels = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["org.opencontainers.image.title"] = "synthetic", ["base.label"] = "kept" },
                Cmd = ["/bin/sh"],
            },
            RootFs = new RootFsDocument { DiffIds = [built.Layer.DiffId] },
            History = [new HistoryDocument { Created = "2025-01-01T00:00:00Z", CreatedBy = "synthetic" }],
        };
        var image = Compose(config, [built.Layer]);
        await new OciLayoutSink(directory).WriteAsync(image, [reference], default);
        Directory.Delete(cache.Root, recursive: true);
        return directory;
    }

    public static Image Compose(ImageConfigDocument config, IReadOnlyList<Layer> layers)
    {
        var configBytes = OciJson.Serialize(config);
        var configDescriptor = new Descriptor(MediaTypes.OciConfig, OciDigest.Of(configBytes), configBytes.Length);
        var manifestBytes = OciJson.Serialize(new ManifestDocument
        {
            Config = DescriptorDocument.From(configDescriptor),
            Layers = layers.Select(l => DescriptorDocument.From(l.Blob.Descriptor)).ToList(),
        });
        return new Image(new Descriptor(MediaTypes.OciManifest, OciDigest.Of(manifestBytes), manifestBytes.Length), manifestBytes, configDescriptor, configBytes, layers);
    }

    /// <summary>
    /// A stand-in for a published runtime: the file names and deps.json shape of the real one (runtimepack, LibTorch
    /// natives, app), with small deterministic contents. Same call, same bytes.
    /// </summary>
    public static string FakeRuntime(string directory, string appVersion = "1")
    {
        Directory.CreateDirectory(directory);
        void Write(string name, int size, bool executable = false)
        {
            var bytes = new byte[size];
            new Random(StableSeed(name)).NextBytes(bytes);
            var path = Path.Combine(directory, name);
            File.WriteAllBytes(path, bytes);
            File.SetUnixFileMode(path, executable ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100);
        }
        Write("libtorch_cpu.so", 3 << 20, executable: true);
        Write("libc10.so", 64 << 10, executable: true);
        Write("libLibTorchSharp.so", 32 << 10, executable: true);
        Write("libcoreclr.so", 256 << 10, executable: true);
        Write("System.Private.CoreLib.dll", 128 << 10);
        Write("Bento.Core.dll", 16 << 10);
        Write("TorchSharp.dll", 16 << 10);
        File.WriteAllText(Path.Combine(directory, "bento-runtime.dll"), $"app version {appVersion}\n");
        File.WriteAllText(Path.Combine(directory, "bento-runtime"), "#!/bin/sh\necho fake runtime\n");
        File.SetUnixFileMode(Path.Combine(directory, "bento-runtime"), (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(directory, "bento-runtime.deps.json"), """
            {
              "targets": {
                ".NETCoreApp,Version=v10.0/linux-x64": {
                  "bento-runtime/1.0.0": { "runtime": { "bento-runtime.dll": {} } },
                  "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/10.0.0": {
                    "runtime": { "System.Private.CoreLib.dll": {} },
                    "native": { "libcoreclr.so": {} }
                  },
                  "libtorch-cpu-linux-x64/2.10.0": {
                    "native": { "runtimes/linux-x64/native/libtorch_cpu.so": {}, "runtimes/linux-x64/native/libc10.so": {} }
                  },
                  "TorchSharp/0.107.0": {
                    "runtime": { "lib/net6.0/TorchSharp.dll": {} },
                    "native": { "runtimes/linux-x64/native/libLibTorchSharp.so": {} }
                  },
                  "Bento.Core/1.0.0": { "runtime": { "Bento.Core.dll": {} } }
                }
              }
            }
            """);
        return directory;
    }

    private static int StableSeed(string s)
    {
        var h = 17;
        foreach (var c in s) h = unchecked(h * 31 + c);
        return h & 0x7fffffff;
    }
}

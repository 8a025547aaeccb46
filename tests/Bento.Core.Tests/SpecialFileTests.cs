using System.Buffers.Binary;
using Bento.Core.Model;
using Bento.Core.Spec;
using static Bento.Core.Tests.HostileInput;
using static Bento.TestSupport.HostileFiles;

namespace Bento.Core.Tests;

/// <summary>
/// Inputs that are not regular files (a FIFO blocks forever, /dev/zero never ends) or are larger than their limit:
/// refused by path, before anything is read, in bounded time and memory, with nothing stored.
/// </summary>
[Collection(HostileInputCollection.Name)]
public class SpecialFileTests : StoreTestBase
{
    private async Task<string> ModelAsync() => await ModelFixture.CopyToAsync(Temp.Combine("model"));

    private static string Display(string path) => BentofileParser.DisplayPath(path);

    private static Task<BentoException> InspectFailsAsync(string dir) =>
        FailsBoundedAsync<BentoException>(() => ModelInspector.InspectAsync(dir));

    [Theory]
    [InlineData("config.json")]
    [InlineData("tokenizer.json")]
    [InlineData("tokenizer_config.json")]
    [InlineData("generation_config.json")]
    [InlineData("model.safetensors")]
    public async Task A_model_file_that_is_a_FIFO_or_a_link_to_dev_zero_is_refused(string name)
    {
        var dir = await ModelAsync();
        var path = Path.Combine(dir, name);
        MakeFifo(path);
        var fifo = await InspectFailsAsync(dir);
        Assert.Equal($"{Display(path)}: not a regular file (a FIFO, device or socket, or a symbolic link to one), which is never read; " +
                     "replace it with a regular file", fifo.Message);

        LinkToDevZero(path);
        var zero = await InspectFailsAsync(dir);
        Assert.StartsWith($"{Display(path)}: not a regular file", zero.Message);
    }

    [Theory]
    [InlineData("config.json", "16 MiB")]
    [InlineData("generation_config.json", "16 MiB")]
    [InlineData("tokenizer_config.json", "16 MiB")]
    [InlineData("tokenizer.json", "256 MiB")]
    public async Task A_model_JSON_file_over_its_limit_is_refused_before_it_is_read(string name, string limit)
    {
        var dir = await ModelAsync();
        var path = Path.Combine(dir, name);
        MakeSparse(path, 300L << 20);
        var e = await InspectFailsAsync(dir);
        Assert.StartsWith($"{Display(path)}: 300 MiB (314572800 bytes) exceeds the {limit} limit for {name}; set BENTO_MAX_", e.Message);
    }

    [Fact]
    public async Task A_safetensors_header_length_over_the_limit_is_refused_before_it_is_allocated()
    {
        var dir = await ModelAsync();
        var path = Path.Combine(dir, "model.safetensors");
        MakeSparse(path, 2L << 30); // long enough to hold the claimed header: only the limit stops it
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            var prefix = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, 1L << 30);
            file.Write(prefix);
        }
        var e = await InspectFailsAsync(dir);
        Assert.Equal($"{Display(path)}: not a valid safetensors file: the header claims 1073741824 bytes, over the 95.4 MiB limit for a safetensors header " +
                     "(corrupt or not a safetensors file; set BENTO_MAX_SAFETENSORS_HEADER_BYTES to raise the limit if it is genuine)", e.Message);
    }

    [Fact]
    public async Task A_bentofile_that_is_a_FIFO_or_a_link_to_dev_zero_is_refused()
    {
        var path = Temp.Combine("bentofile.yaml");
        MakeFifo(path);
        Assert.StartsWith($"{Display(path)}: not a regular file",
            (await FailsBoundedAsync<BentoException>(() => BentofileParser.Load(BentofileParser.Locate(Temp.Path)))).Message);
        LinkToDevZero(path);
        Assert.StartsWith($"{Display(path)}: not a regular file",
            (await FailsBoundedAsync<BentoException>(() => BentofileParser.Load(path))).Message);
    }

    [Fact]
    public async Task A_FIFO_or_a_link_to_dev_zero_in_the_build_folder_fails_the_build_and_stores_nothing()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var pipe = Path.Combine(dir, "notes.txt");
        MakeFifo(pipe);
        var fifo = await FailsBoundedAsync<BentoException>(() => BuildAsync(dir));
        Assert.Equal($"{Display(pipe)}: not a regular file (a FIFO, device or socket, or a symbolic link to one), which is never read; " +
                     "remove it or add it to exclude", fifo.Message);
        Assert.Empty(StoreContents());

        File.Delete(pipe);
        var zero = Path.Combine(dir, "data", "zeros.bin.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(zero)!);
        LinkToDevZero(zero);
        Assert.StartsWith($"{Display(zero)}: not a regular file", (await FailsBoundedAsync<BentoException>(() => BuildAsync(dir))).Message);
        Assert.Empty(StoreContents());

        // Excluded, it is never looked at, and the build goes through.
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), "name: fixture\nexclude: [data/]\n");
        Assert.True((await BuildAsync(dir)).Created);
    }

    [Fact]
    public async Task A_bentoignore_that_is_a_FIFO_is_refused()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var ignore = Path.Combine(dir, ".bentoignore");
        MakeFifo(ignore);
        Assert.StartsWith($"{Display(ignore)}: not a regular file", (await FailsBoundedAsync<BentoException>(() => BuildAsync(dir))).Message);
        Assert.Empty(StoreContents());
    }
}

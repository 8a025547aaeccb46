using Bento.Core.Build;
using Bento.Core.Store;

namespace Bento.Runtime.Tests.Server;

/// <summary>The bundled example (or another project folder) built with the real builder into a store under <paramref name="home"/>.</summary>
internal static class ExampleBento
{
    /// <param name="bentofile">Replaces the example's bentofile.yaml when given.</param>
    /// <param name="projectDirectory">A folder with a model and bentofile.yaml to build instead of the example.</param>
    public static async Task<(BentoStore Store, StoredBento Bento)> BuildAsync(string home, string? bentofile = null, string? projectDirectory = null)
    {
        var project = Path.Combine(home, "project");
        Directory.CreateDirectory(project);
        foreach (var file in Directory.EnumerateFiles(projectDirectory ?? Repo.ExampleDirectory))
            File.Copy(file, Path.Combine(project, Path.GetFileName(file)));
        if (bentofile is not null) await File.WriteAllTextAsync(Path.Combine(project, "bentofile.yaml"), bentofile);
        var store = new BentoStore(Path.Combine(home, "store"));
        var bento = (await new BentoBuilder(store).BuildAsync(Path.Combine(project, "bentofile.yaml"))).Bento;
        return (store, bento);
    }
}

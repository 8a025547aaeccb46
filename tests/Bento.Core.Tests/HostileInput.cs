namespace Bento.Core.Tests;

/// <summary>
/// Tests that measure memory run alone: <see cref="GC.GetTotalAllocatedBytes"/> counts the whole process, and
/// tests running beside them would blur it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HostileInputCollection
{
    public const string Name = "hostile input (alone, for memory measurements)";
}

/// <summary>
/// The bounds the hostile-input tests run under; the crafted inputs themselves are made by
/// <see cref="Bento.TestSupport.HostileFiles"/> (shared with the end-to-end tests, which feed them to ./bento).
/// </summary>
public static class HostileInput
{
    /// <summary>Far below the gigabytes the attacks used to cost, far above what a refusal costs.</summary>
    public const long MemoryBound = 200L << 20;

    /// <summary>
    /// Runs <paramref name="action"/> (on the thread pool, so a read that blocks cannot hang the test run) and
    /// returns the exception it must throw, checking that it took under <paramref name="seconds"/> and allocated
    /// less than <see cref="MemoryBound"/>.
    /// </summary>
    public static async Task<TException> FailsBoundedAsync<TException>(Func<Task> action, int seconds = 10) where TException : Exception
    {
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var run = Task.Run(action);
        var e = await Assert.ThrowsAnyAsync<TException>(() => run.WaitAsync(TimeSpan.FromSeconds(seconds)));
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.True(allocated < MemoryBound, $"allocated {allocated >> 20} MiB refusing the input (bound {MemoryBound >> 20} MiB)");
        return e;
    }

    public static Task<TException> FailsBoundedAsync<TException>(Action action, int seconds = 10) where TException : Exception =>
        FailsBoundedAsync<TException>(() => { action(); return Task.CompletedTask; }, seconds);
}

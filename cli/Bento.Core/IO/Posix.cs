using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Bento.Core.IO;

/// <summary>
/// The few POSIX calls .NET does not expose: hard links, reflinks and inode identity (for the hash cache), and the
/// memory-mapping advice the runtime gives for weight files.
/// statx is used rather than stat because its struct layout is the same on every architecture.
/// </summary>
public static partial class Posix
{
    public const int EXDEV = 18;
    public const int EEXIST = 17;
    public const int ENOSPC = 28;
    public const int EACCES = 13;
    public const int EPERM = 1;
    public const int EROFS = 30;

    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;
    private const ulong Ficlone = 0x40049409;

    [StructLayout(LayoutKind.Sequential)]
    private struct StatxTimestamp
    {
        public long Seconds;
        public uint Nanoseconds;
        public int Reserved;
    }

    [StructLayout(LayoutKind.Sequential, Size = 256)]
    private struct Statx
    {
        public uint Mask;
        public uint BlockSize;
        public ulong Attributes;
        public uint LinkCount;
        public uint Uid;
        public uint Gid;
        public ushort Mode;
        public ushort Spare0;
        public ulong Inode;
        public ulong Size;
        public ulong Blocks;
        public ulong AttributesMask;
        public StatxTimestamp AccessTime;
        public StatxTimestamp BirthTime;
        public StatxTimestamp ChangeTime;
        public StatxTimestamp ModifyTime;
        public uint RdevMajor;
        public uint RdevMinor;
        public uint DevMajor;
        public uint DevMinor;
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatxNative(int dirfd, string path, int flags, uint mask, out Statx buffer);

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetParentPidNative();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int MadviseNative(nint address, nint length, int advice);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint MmapNative(nint address, nint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int MunmapNative(nint address, nint length);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int FadviseNative(int fd, long offset, long length, int advice);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FdatasyncNative(int fd);

    /// <summary>madvise(2) values used here (Linux, the same on every architecture).</summary>
    public enum MemoryAdvice
    {
        /// <summary>Map with 2 MiB entries where the memory behind allows it.</summary>
        HugePage = 14,
        /// <summary>Fault every page in now (Linux 5.14+).</summary>
        PopulateRead = 22,
    }

    /// <summary>madvise over [address, address + length), widened to whole 4 KiB pages; false when the kernel refused
    /// (an advice it does not know, transparent huge pages compiled out, or not a mapping).</summary>
    public static bool Advise(nint address, long length, MemoryAdvice advice)
    {
        var page = address & ~(nint)4095;
        return MadviseNative(page, (nint)(length + (address - page)), (int)advice) == 0;
    }

    /// <summary>A private read-only mapping of <paramref name="length"/> bytes of <paramref name="file"/> from
    /// <paramref name="offset"/> (a multiple of the page size); release it with <see cref="Unmap"/>.</summary>
    public static nint MapReadOnly(SafeFileHandle file, long offset, long length)
    {
        const int ProtRead = 1, MapPrivate = 2;
        var address = MmapNative(0, (nint)length, ProtRead, MapPrivate, (int)file.DangerousGetHandle(), offset);
        if (address == -1)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot map {length} bytes: {Describe(errno)}", errno);
        }
        return address;
    }

    public static void Unmap(nint address, long length) => _ = MunmapNative(address, (nint)length);

    /// <summary>
    /// Evicts the file's cached pages in [offset, offset + length) that no process maps (length 0: to the end), after
    /// writing back its dirty ones (so they can be evicted too). Nothing is lost: the next read loads them from the
    /// file again. False when the kernel refused.
    /// </summary>
    public static bool DropCachedPages(SafeFileHandle file, long offset = 0, long length = 0)
    {
        const int FadvDontNeed = 4;
        var fd = (int)file.DangerousGetHandle();
        _ = FdatasyncNative(fd);
        return FadviseNative(fd, offset, length, FadvDontNeed) == 0;
    }

    /// <summary>This process's parent; changes (to 1 or a subreaper) when the parent dies.</summary>
    public static int ParentProcessId() => GetParentPidNative();

    /// <summary>Sends a signal (by its Linux number); false when the process is gone.</summary>
    public static bool Signal(int pid, int signal) => KillNative(pid, signal) == 0;

    // linkat with AT_SYMLINK_FOLLOW: link(2) on Linux links a symbolic link itself, which would put a link (that may
    // point outside the store, or nowhere once moved) into the store instead of the file's bytes.
    [LibraryImport("libc", EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LinkAtNative(int oldDirFd, string existing, int newDirFd, string newPath, int flags);

    private const int AtSymlinkFollow = 0x400;
    private const int AtSymlinkNoFollow = 0x100;

    [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr RealPathNative(string path, IntPtr resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void FreeNative(IntPtr pointer);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlNative(int fd, ulong request, int arg);

    /// <summary>Identity of a file's content as git's index sees it: if none of these changed, the bytes did not.</summary>
    public static FileIdentity Identify(string path)
    {
        if (StatxNative(AtFdCwd, path, 0, StatxBasicStats, out var st) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot stat '{path}': {Describe(errno)}", errno);
        }
        return new FileIdentity(
            (long)st.Size,
            st.ModifyTime.Seconds * 1_000_000_000L + st.ModifyTime.Nanoseconds,
            st.ChangeTime.Seconds * 1_000_000_000L + st.ChangeTime.Nanoseconds,
            st.Inode,
            ((ulong)st.DevMajor << 32) | st.DevMinor,
            st.LinkCount);
    }

    /// <summary>
    /// What <paramref name="path"/> is, following symbolic links: a regular file, a directory, or something that must
    /// not be read as a file (a FIFO blocks forever, /dev/zero never ends); null when it does not exist.
    /// </summary>
    public static FileKind? KindOf(string path)
    {
        if (StatxNative(AtFdCwd, path, 0, StatxBasicStats, out var st) != 0) return null;
        return (st.Mode & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            _ => FileKind.Special,
        };
    }

    /// <summary>Creates <paramref name="newPath"/> as a hard link; returns errno (0 on success) so callers can fall back.</summary>
    /// <remarks>A symbolic link is followed: the new name links the file it points to, never the link.</remarks>
    public static int TryHardLink(string existing, string newPath)
        => LinkAtNative(AtFdCwd, existing, AtFdCwd, newPath, AtSymlinkFollow) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>
    /// The canonical absolute path of an existing file or directory: every symbolic link (of the file and of each
    /// folder above it), <c>.</c> and <c>..</c> resolved. Throws an IOException when it does not exist or a link loops.
    /// </summary>
    public static string RealPath(string path)
    {
        var result = RealPathNative(path, IntPtr.Zero);
        if (result == IntPtr.Zero)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot resolve '{path}': {Describe(errno)}", errno);
        }
        try { return Marshal.PtrToStringUTF8(result)!; }
        finally { FreeNative(result); }
    }

    /// <summary>Whether <paramref name="path"/> itself is a symbolic link (not followed); false when it does not exist.</summary>
    public static bool IsSymbolicLink(string path) =>
        StatxNative(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, out var st) == 0 && (st.Mode & 0xF000) == 0xA000;

    /// <summary>
    /// Copy-on-write clone (btrfs, XFS, bcachefs): a private copy that shares blocks until either side is written.
    /// Returns errno (0 on success); on failure the destination is removed.
    /// </summary>
    public static int TryReflink(string source, string destination)
    {
        using var src = File.OpenHandle(source, FileMode.Open, FileAccess.Read);
        int errno;
        using (var dst = File.OpenHandle(destination, FileMode.CreateNew, FileAccess.Write))
        {
            var rc = IoctlNative((int)dst.DangerousGetHandle(), Ficlone, (int)src.DangerousGetHandle());
            errno = rc == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
        if (errno != 0) File.Delete(destination);
        return errno;
    }

    public static string Describe(int errno) => errno switch
    {
        ENOSPC => "no space left on device",
        EACCES or EPERM => "permission denied",
        EROFS => "read-only file system",
        EXDEV => "different file systems",
        EEXIST => "file exists",
        2 => "no such file or directory",
        40 => "too many levels of symbolic links",
        _ => Marshal.GetPInvokeErrorMessage(errno),
    };
}

public enum FileKind { Regular, Directory, Special }

public readonly record struct FileIdentity(long Size, long MtimeNs, long CtimeNs, ulong Inode, ulong Device, uint LinkCount);

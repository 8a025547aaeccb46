using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Bento.TestSupport;

/// <summary>
/// Crafted hostile inputs, generated on the spot: tar headers claiming huge metadata, hand-made zstd frames that
/// decompress a few kilobytes into gigabytes, YAML bombs, FIFOs, links to /dev/zero and sparse files of any size.
/// </summary>
public static class HostileFiles
{
    /// <summary>A 512-byte ustar header (GNU magic when <paramref name="gnu"/>), checksum included.</summary>
    public static byte[] TarHeader(string name, char type, long size, bool gnu = false)
    {
        var h = new byte[512];
        Encoding.ASCII.GetBytes(name).CopyTo(h, 0);
        Octal(h, 100, 8, 0b110_100_100);
        Octal(h, 108, 8, 0);
        Octal(h, 116, 8, 0);
        Octal(h, 124, 12, size);
        Octal(h, 136, 12, 0);
        h[156] = (byte)type;
        Encoding.ASCII.GetBytes(gnu ? "ustar  \0" : "ustar\000").CopyTo(h, 257);
        h.AsSpan(148, 8).Fill((byte)' ');
        var sum = h.Sum(b => (long)b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(h, 148);
        return h;
    }

    /// <summary>PAX extended header records ("LEN key=value\n", LEN counting itself).</summary>
    public static byte[] PaxRecords(params (string Key, string Value)[] records)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in records)
        {
            var body = $" {key}={value}\n";
            var length = body.Length + 1;
            while ((length.ToString().Length + body.Length) != length) length = length.ToString().Length + body.Length;
            text.Append(length).Append(body);
        }
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    /// <summary>Pads tar data to the 512-byte block.</summary>
    public static byte[] Padded(byte[] data) => [.. data, .. new byte[(512 - data.Length % 512) % 512]];

    private static void Octal(byte[] h, int offset, int length, long value)
    {
        Encoding.ASCII.GetBytes(Convert.ToString(value, 8).PadLeft(length - 1, '0')).CopyTo(h, offset);
        h[offset + length - 1] = 0;
    }

    /// <summary>
    /// A zstd frame written by hand: <paramref name="raw"/> stored as is, then <paramref name="zeros"/> zero bytes as
    /// run-length blocks of 4 bytes per 128 KiB, which is how a 34 KB file decompresses to a gigabyte.
    /// </summary>
    public static void WriteZstdFrame(Stream output, byte[] raw, long zeros)
    {
        const int maxBlock = 128 << 10;
        output.Write([0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x38]); // magic; no content size, no checksum; 128 KiB window
        for (var offset = 0; offset < raw.Length; offset += maxBlock)
        {
            var n = Math.Min(maxBlock, raw.Length - offset);
            BlockHeader(output, n, type: 0, last: zeros == 0 && offset + n == raw.Length);
            output.Write(raw, offset, n);
        }
        for (var left = zeros; left > 0;)
        {
            var n = (int)Math.Min(maxBlock, left);
            left -= n;
            BlockHeader(output, n, type: 1, last: left == 0);
            output.WriteByte(0);
        }
    }

    private static void BlockHeader(Stream output, int size, int type, bool last)
    {
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)(size << 3 | type << 1 | (last ? 1 : 0)));
        output.Write(header[..3]);
    }

    /// <summary>A "billion laughs": nine levels of nine aliases, about two hundred bytes, a billion nodes expanded.</summary>
    public static string BillionLaughs(string firstLine = "")
    {
        var text = new StringBuilder(firstLine);
        text.Append("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
        for (var c = 'b'; c <= 'i'; c++)
        {
            var previous = (char)(c - 1);
            text.Append($"{c}: &{c} [{string.Join(",", Enumerable.Repeat($"*{previous}", 9))}]\n");
        }
        return text.ToString();
    }

    /// <summary>Creates a FIFO (named pipe); opening one for reading blocks until a writer comes, which none will.</summary>
    public static void MakeFifo(string path)
    {
        if (File.Exists(path)) File.Delete(path);
        if (MkFifo(path, 0b110_100_100) != 0) throw new IOException($"mkfifo {path} failed (errno {Marshal.GetLastPInvokeError()})");
    }

    // DllImport rather than LibraryImport: the project does not allow unsafe code.
    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MkFifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    /// <summary>Replaces <paramref name="path"/> with a symbolic link to /dev/zero, which reads forever.</summary>
    public static void LinkToDevZero(string path)
    {
        if (File.Exists(path)) File.Delete(path);
        File.CreateSymbolicLink(path, "/dev/zero");
    }

    /// <summary>A sparse file of <paramref name="size"/> bytes: costs no disk, claims any size.</summary>
    public static void MakeSparse(string path, long size)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        file.SetLength(size);
    }
}

using System.Diagnostics;

namespace Bento.Core.IO;

/// <summary>
/// One progress line for a long byte transfer (exporting or importing a multi-GB bento), redrawn in place on a
/// terminal: <c>exporting tiny-llama:3fa1…  42%  1.1 GiB / 2.6 GiB  310 MiB/s</c>. Silent when <c>enabled</c> is false
/// (stderr is not a terminal: logs and tests see no carriage returns), and redrawn at most every
/// <see cref="Interval"/> so a fast transfer does not spend its time printing. Thread-safe.
/// </summary>
public sealed class TransferMeter
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    private readonly TextWriter? _output;
    private readonly string _label;
    private readonly TimeProvider _clock;
    private readonly long _started;
    private readonly object _gate = new();
    private long _total;
    private long _done;
    private long _lastDrawn = long.MinValue;
    private bool _drewAnything;
    private bool _finished;

    /// <param name="total">Bytes expected; 0 or less when not known yet (see <see cref="SetTotal"/>).</param>
    public TransferMeter(TextWriter output, bool enabled, string label, long total, TimeProvider? clock = null)
    {
        _output = enabled ? output : null;
        _label = label;
        _total = total;
        _clock = clock ?? TimeProvider.System;
        _started = _clock.GetTimestamp();
    }

    /// <summary>A meter that never prints.</summary>
    public static TransferMeter Silent { get; } = new(TextWriter.Null, enabled: false, "", 0);

    public long Done => Interlocked.Read(ref _done);

    /// <summary>The total once it is known (an import learns it from the manifest).</summary>
    public void SetTotal(long total) => Interlocked.Exchange(ref _total, total);

    public void Advance(long bytes)
    {
        Interlocked.Add(ref _done, bytes);
        if (_output is null) return;
        lock (_gate)
        {
            if (_finished) return;
            var now = _clock.GetTimestamp();
            if (_lastDrawn != long.MinValue && _clock.GetElapsedTime(_lastDrawn, now) < Interval) return;
            _lastDrawn = now;
            Draw(now);
        }
    }

    /// <summary>Draws the final state and ends the line (nothing when nothing was drawn or the meter is silent).</summary>
    public void Finish()
    {
        if (_output is null) return;
        lock (_gate)
        {
            if (_finished) return;
            _finished = true;
            if (!_drewAnything) return;
            Draw(_clock.GetTimestamp());
            _output.Write('\n');
            _output.Flush();
        }
    }

    /// <summary>The text of the line for the current state (without the carriage return).</summary>
    public string Line(TimeSpan elapsed)
    {
        var done = Done;
        var total = Interlocked.Read(ref _total);
        var rate = elapsed.TotalSeconds > 0 ? done / elapsed.TotalSeconds : 0;
        var amount = total > 0
            ? $"{Math.Min(100, done * 100 / total),3}%  {ByteText(done)} / {ByteText(total)}"
            : ByteText(done);
        return $"{_label}  {amount}  {ByteText((long)rate)}/s";
    }

    private void Draw(long now)
    {
        Debug.Assert(_output is not null);
        // \r and a clear-to-end-of-line: the line is redrawn in place and a shorter line leaves no leftovers.
        _output.Write("\r" + Line(_clock.GetElapsedTime(_started, now)) + "\u001b[K");
        _output.Flush();
        _drewAnything = true;
    }

    public static string ByteText(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1) { value /= 1024; unit++; }
        return unit == 0 ? $"{bytes} B" : $"{value:0.0} {units[unit]}";
    }
}

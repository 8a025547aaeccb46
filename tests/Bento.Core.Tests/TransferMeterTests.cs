using Bento.Core.IO;

namespace Bento.Core.Tests;

/// <summary>The export/import progress line: silent without a terminal, throttled, ends its line.</summary>
public class TransferMeterTests
{
    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualClock : TimeProvider
    {
        public long Ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Ticks;
        public void Advance(TimeSpan by) => Ticks += by.Ticks;
    }

    [Fact]
    public void Disabled_it_writes_nothing()
    {
        var output = new StringWriter();
        var meter = new TransferMeter(output, enabled: false, "exporting x", 1000);
        meter.Advance(500);
        meter.Finish();
        Assert.Equal("", output.ToString());
        Assert.Equal(500, meter.Done);
    }

    [Fact]
    public void Enabled_it_redraws_one_line_at_most_every_interval_and_ends_it()
    {
        var output = new StringWriter();
        var clock = new ManualClock();
        var meter = new TransferMeter(output, enabled: true, "exporting x", 4 << 20, clock);
        clock.Advance(TimeSpan.FromSeconds(1));
        meter.Advance(1 << 20);
        meter.Advance(1 << 20); // within the interval: not drawn
        Assert.Equal(1, output.ToString().Count(c => c == '\r'));
        Assert.Contains("exporting x   25%  1.0 MiB / 4.0 MiB", output.ToString());

        clock.Advance(TransferMeter.Interval);
        meter.Advance(2 << 20);
        Assert.Equal(2, output.ToString().Count(c => c == '\r'));
        Assert.Contains("100%  4.0 MiB / 4.0 MiB", output.ToString());

        meter.Finish();
        Assert.EndsWith("\n", output.ToString());
        Assert.DoesNotContain('\n', output.ToString()[..^1]);
    }

    [Fact]
    public void Without_a_total_it_shows_bytes_and_rate()
    {
        var clock = new ManualClock();
        var meter = new TransferMeter(new StringWriter(), enabled: true, "importing from stdin", 0, clock);
        meter.Advance(3 << 20);
        Assert.Equal("importing from stdin  3.0 MiB  1.5 MiB/s", meter.Line(TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public void Finish_without_any_progress_prints_nothing()
    {
        var output = new StringWriter();
        new TransferMeter(output, enabled: true, "x", 10).Finish();
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public async Task A_metered_stream_counts_every_byte_read()
    {
        var meter = new TransferMeter(TextWriter.Null, enabled: false, "x", 0);
        await using var stream = new MeteredStream(new MemoryStream(new byte[100_000]), meter);
        await stream.CopyToAsync(Stream.Null);
        Assert.Equal(100_000, meter.Done);
    }
}

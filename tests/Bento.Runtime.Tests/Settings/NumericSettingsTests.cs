using Bento.Runtime.Settings;
using static Bento.Runtime.Tests.Settings.SettingsFixture;

namespace Bento.Runtime.Tests.Settings;

/// <summary>max_model_len, max_num_seqs, gpu_memory_utilization and port: precedence, ranges and typos.</summary>
public sealed class NumericSettingsTests
{
    private const string PortAccepts = "use a whole number from 1 to 65535";
    private const string SeqsAccepts = "use a whole number from 1 to 65536";
    private const string LenAccepts = "use a whole number from 1 to 16777216";
    private const string FractionAccepts = "use a number greater than 0 and at most 1, e.g. 0.9";

    [Fact]
    public void DefaultsWithoutABento()
    {
        var settings = Resolve();
        Assert.Equal(new Setting<int?>(null, SettingSource.Default), settings.MaxModelLen);
        Assert.Equal(new Setting<int>(16, SettingSource.Default), settings.MaxNumSeqs);
        Assert.Equal(new Setting<double>(0.9, SettingSource.Default), settings.GpuMemoryUtilization);
        Assert.Equal(new Setting<int>(3000, SettingSource.Default), settings.Port);
    }

    [Fact]
    public void TheBentoBeatsTheDefaults()
    {
        var settings = Resolve(Manifest(maxModelLen: 1024, maxNumSeqs: 4, gpuMemoryUtilization: 0.5, port: 8000));
        Assert.Equal(new Setting<int?>(1024, SettingSource.Bento), settings.MaxModelLen);
        Assert.Equal(new Setting<int>(4, SettingSource.Bento), settings.MaxNumSeqs);
        Assert.Equal(new Setting<double>(0.5, SettingSource.Bento), settings.GpuMemoryUtilization);
        Assert.Equal(new Setting<int>(8000, SettingSource.Bento), settings.Port);
    }

    [Fact]
    public void ZeroInTheManifestMeansTheBentoDidNotSay()
    {
        // The builder always fills max_model_len and max_num_seqs; a hand-made manifest that omits them reads 0.
        var settings = Resolve(Manifest(maxModelLen: 0, maxNumSeqs: 0));
        Assert.Equal(new Setting<int?>(null, SettingSource.Default), settings.MaxModelLen);
        Assert.Equal(new Setting<int>(16, SettingSource.Default), settings.MaxNumSeqs);
    }

    [Fact]
    public void TheEnvironmentBeatsTheBento()
    {
        var settings = Resolve(Manifest(), Env(
            ("BENTO_MAX_MODEL_LEN", "256"), ("BENTO_MAX_NUM_SEQS", "2"), ("BENTO_GPU_MEMORY_UTILIZATION", "0.75"), ("BENTO_PORT", "8080")));
        Assert.Equal(new Setting<int?>(256, SettingSource.Env, "BENTO_MAX_MODEL_LEN"), settings.MaxModelLen);
        Assert.Equal(new Setting<int>(2, SettingSource.Env, "BENTO_MAX_NUM_SEQS"), settings.MaxNumSeqs);
        Assert.Equal(new Setting<double>(0.75, SettingSource.Env, "BENTO_GPU_MEMORY_UTILIZATION"), settings.GpuMemoryUtilization);
        Assert.Equal(new Setting<int>(8080, SettingSource.Env, "BENTO_PORT"), settings.Port);
    }

    [Fact]
    public void FlagsBeatTheEnvironment()
    {
        var settings = Resolve(Manifest(),
            Env(("BENTO_MAX_MODEL_LEN", "256"), ("BENTO_MAX_NUM_SEQS", "2"), ("BENTO_GPU_MEMORY_UTILIZATION", "0.75"), ("BENTO_PORT", "8080")),
            CliOverrides.None.With(SettingName.MaxModelLen, 128).With(SettingName.MaxNumSeqs, 1).With(SettingName.GpuMemoryUtilization, 1.0).With(SettingName.Port, 9000));
        Assert.Equal(new Setting<int?>(128, SettingSource.Cli, "--max-model-len"), settings.MaxModelLen);
        Assert.Equal(new Setting<int>(1, SettingSource.Cli, "--max-num-seqs"), settings.MaxNumSeqs);
        Assert.Equal(new Setting<double>(1.0, SettingSource.Cli, "--gpu-memory-utilization"), settings.GpuMemoryUtilization);
        Assert.Equal(new Setting<int>(9000, SettingSource.Cli, "--port"), settings.Port);
    }

    [Fact]
    public void FlagsWorkWithoutABento()
    {
        var settings = Resolve(null, NoEnv, CliOverrides.None.With(SettingName.MaxModelLen, 64).With(SettingName.Port, 1));
        Assert.Equal(new Setting<int?>(64, SettingSource.Cli, "--max-model-len"), settings.MaxModelLen);
        Assert.Equal(new Setting<int>(1, SettingSource.Cli, "--port"), settings.Port);
    }

    [Theory]
    [InlineData("BENTO_MAX_MODEL_LEN")]
    [InlineData("BENTO_MAX_NUM_SEQS")]
    [InlineData("BENTO_GPU_MEMORY_UTILIZATION")]
    [InlineData("BENTO_PORT")]
    public void EmptyVariablesCountAsUnset(string variable)
    {
        var settings = Resolve(Manifest(), Env((variable, ""), ("BENTO_HOST", " ")));
        Assert.All(new[] { settings.MaxModelLen.Source, settings.MaxNumSeqs.Source, settings.GpuMemoryUtilization.Source, settings.Port.Source },
            source => Assert.Equal(SettingSource.Bento, source));
    }

    [Theory]
    [InlineData(" 8080 ", 8080)]
    [InlineData("+8080", 8080)]
    [InlineData("1", 1)]
    [InlineData("65535", 65535)]
    public void PortTextThatIsAccepted(string text, int port) =>
        Assert.Equal(port, Resolve(Manifest(), Env(("BENTO_PORT", text))).Port.Value);

    [Theory]
    [InlineData("abc", "is not an integer")]
    [InlineData("80a", "is not an integer")]
    [InlineData("3000.0", "is not an integer")]
    [InlineData("3e3", "is not an integer")]
    [InlineData("0x50", "is not an integer")]
    [InlineData("3 000", "is not an integer")]
    [InlineData("0", "is out of range")]
    [InlineData("-1", "is out of range")]
    [InlineData("65536", "is out of range")]
    [InlineData("99999999999", "is out of range")]
    public void PortVariableErrors(string text, string reason) =>
        Assert.Equal($"BENTO_PORT='{text}' {reason}; {PortAccepts}", Fails(Manifest(), Env(("BENTO_PORT", text))));

    [Theory]
    [InlineData(0)]
    [InlineData(-80)]
    [InlineData(65536)]
    public void PortFlagOutOfRange(int port) =>
        Assert.Equal($"--port='{port}' is out of range; {PortAccepts}", Fails(Manifest(), cli: CliOverrides.None.With(SettingName.Port, port)));

    [Fact]
    public void PortOutOfRangeInTheBento() =>
        Assert.Equal($"bento.yaml runtime.port='0' is out of range; {PortAccepts}", Fails(Manifest(port: 0)));

    [Theory]
    [InlineData("0", "is out of range")]
    [InlineData("-4", "is out of range")]
    [InlineData("four", "is not an integer")]
    [InlineData("1.5", "is not an integer")]
    public void MaxNumSeqsVariableErrors(string text, string reason) =>
        Assert.Equal($"BENTO_MAX_NUM_SEQS='{text}' {reason}; {SeqsAccepts}", Fails(Manifest(), Env(("BENTO_MAX_NUM_SEQS", text))));

    [Fact]
    public void MaxNumSeqsFlagOutOfRange() =>
        Assert.Equal($"--max-num-seqs='0' is out of range; {SeqsAccepts}", Fails(Manifest(), cli: CliOverrides.None.With(SettingName.MaxNumSeqs, 0)));

    [Fact]
    public void MaxNumSeqsNegativeInTheBento() =>
        Assert.Equal($"bento.yaml runtime.max_num_seqs='-2' is out of range; {SeqsAccepts}", Fails(Manifest(maxNumSeqs: -2)));

    [Theory]
    [InlineData("0", "is out of range")]
    [InlineData("-512", "is out of range")]
    [InlineData("512k", "is not an integer")]
    [InlineData("auto", "is not an integer")]
    public void MaxModelLenVariableErrors(string text, string reason) =>
        Assert.Equal($"BENTO_MAX_MODEL_LEN='{text}' {reason}; {LenAccepts}", Fails(Manifest(), Env(("BENTO_MAX_MODEL_LEN", text))));

    [Fact]
    public void MaxModelLenFlagOutOfRange() =>
        Assert.Equal($"--max-model-len='0' is out of range; {LenAccepts}", Fails(null, cli: CliOverrides.None.With(SettingName.MaxModelLen, 0)));

    [Fact]
    public void MaxModelLenMayNotExceedTheModelsPositions()
    {
        var bento = Manifest(maxModelLen: 512, maxPositionEmbeddings: 2048);
        Assert.Equal(2048, Resolve(bento, Env(("BENTO_MAX_MODEL_LEN", "2048"))).MaxModelLen.Value);
        Assert.Equal(
            "BENTO_MAX_MODEL_LEN='4096' is out of range; use a whole number from 1 to 2048 (the model's max_position_embeddings)",
            Fails(bento, Env(("BENTO_MAX_MODEL_LEN", "4096"))));
        Assert.Equal(
            "--max-model-len='2049' is out of range; use a whole number from 1 to 2048 (the model's max_position_embeddings)",
            Fails(bento, cli: CliOverrides.None.With(SettingName.MaxModelLen, 2049)));
    }

    [Theory]
    [InlineData("0.5", 0.5)]
    [InlineData(" 1 ", 1.0)]
    [InlineData("1.0", 1.0)]
    [InlineData(".95", 0.95)]
    [InlineData("9e-1", 0.9)]
    [InlineData("0.0001", 0.0001)]
    public void GpuMemoryUtilizationTextThatIsAccepted(string text, double value) =>
        Assert.Equal(value, Resolve(Manifest(), Env(("BENTO_GPU_MEMORY_UTILIZATION", text))).GpuMemoryUtilization.Value);

    [Theory]
    [InlineData("0,9", "is not a number")]
    [InlineData("90%", "is not a number")]
    [InlineData("high", "is not a number")]
    [InlineData("NaN", "is not a number")]
    [InlineData("Infinity", "is not a number")]
    [InlineData("0", "is out of range")]
    [InlineData("-0.5", "is out of range")]
    [InlineData("1.01", "is out of range")]
    [InlineData("90", "is out of range")]
    public void GpuMemoryUtilizationVariableErrors(string text, string reason) =>
        Assert.Equal($"BENTO_GPU_MEMORY_UTILIZATION='{text}' {reason}; {FractionAccepts}",
            Fails(Manifest(), Env(("BENTO_GPU_MEMORY_UTILIZATION", text))));

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(1.5, "1.5")]
    [InlineData(double.NaN, "NaN")]
    public void GpuMemoryUtilizationFlagOutOfRange(double value, string shown) =>
        Assert.Equal($"--gpu-memory-utilization='{shown}' is out of range; {FractionAccepts}",
            Fails(Manifest(), cli: CliOverrides.None.With(SettingName.GpuMemoryUtilization, value)));

    [Fact]
    public void GpuMemoryUtilizationOutOfRangeInTheBento() =>
        Assert.Equal($"bento.yaml runtime.gpu_memory_utilization='1.2' is out of range; {FractionAccepts}",
            Fails(Manifest(gpuMemoryUtilization: 1.2)));

    [Fact]
    public void ABadVariableStopsStartUpEvenWhenAFlagOverridesIt() =>
        Assert.StartsWith("BENTO_PORT='http' is not an integer",
            Fails(Manifest(), Env(("BENTO_PORT", "http")), CliOverrides.None.With(SettingName.Port, 8080)));
}

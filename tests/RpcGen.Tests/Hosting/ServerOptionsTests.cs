using Microsoft.Extensions.Configuration;
using Xunit;

namespace RpcGen.Tests.Hosting;

/// <summary>The server's limits check each value where it is set, and configuration names every key it refuses.</summary>
public sealed class ServerOptionsTests
{
    public static TheoryData<string, Action<RpcServerOptions>> InvalidValues => new()
    {
        { "MaxFrameSize", o => o.Limits.MaxFrameSize = 1023 },
        { "MaxMetadataSize", o => o.Limits.MaxMetadataSize = 63 },
        { "MaxMetadataSize", o => o.Limits.MaxMetadataSize = 65_536 },
        { "MaxConnections", o => o.Limits.MaxConnections = 0 },
        { "MaxConcurrentCallsPerConnection", o => o.Limits.MaxConcurrentCallsPerConnection = 0 },
        { "MaxConcurrentCallsPerConnection", o => o.Limits.MaxConcurrentCallsPerConnection = 65_536 },
        { "MaxConcurrentCalls", o => o.Limits.MaxConcurrentCalls = 0 },
        { "MaxResponseBufferSize", o => o.Limits.MaxResponseBufferSize = (64 * 1024) - 1 },
        { "HandshakeTimeout", o => o.Limits.HandshakeTimeout = TimeSpan.Zero },
        { "IdleTimeout", o => o.Limits.IdleTimeout = TimeSpan.Zero },
        { "FrameTimeout", o => o.Limits.FrameTimeout = TimeSpan.Zero },
        { "ResponseDrainTimeout", o => o.Limits.ResponseDrainTimeout = TimeSpan.Zero },
        { "GoAwayLinger", o => o.Limits.GoAwayLinger = TimeSpan.FromTicks(-1) },
        { "Deduplication.Capacity", o => o.Deduplication.Capacity = 0 },
        { "Deduplication.MaxBytes", o => o.Deduplication.MaxBytes = -1 },
        { "Deduplication.Window", o => o.Deduplication.Window = TimeSpan.Zero },
    };

    [Theory]
    [MemberData(nameof(InvalidValues))]
    public void EachSetter_RefusesAValueOutsideItsRange_NamingTheSetting(string setting, Action<RpcServerOptions> spoil)
    {
        var options = new RpcServerOptions();
        ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(() => spoil(options));
        string name = setting.StartsWith("Deduplication.", StringComparison.Ordinal) ? setting : "Limits." + setting;
        Assert.Contains($"RpcServerOptions.{name} ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheLimitsOfEachRange_AreAccepted_AndNullMeansNoLimit()
    {
        var options = new RpcServerOptions();
        RpcServerLimits limits = options.Limits;
        limits.MaxFrameSize = 1024;
        limits.MaxMetadataSize = 64;
        limits.MaxMetadataSize = 65_535;
        limits.MaxConnections = 1;
        limits.MaxConnections = null;
        limits.MaxConcurrentCallsPerConnection = 1;
        limits.MaxConcurrentCallsPerConnection = 65_535;
        limits.MaxConcurrentCalls = null;
        limits.MaxResponseBufferSize = 64 * 1024;
        limits.MaxResponseBufferSize = null;
        limits.IdleTimeout = Timeout.InfiniteTimeSpan;
        limits.GoAwayLinger = TimeSpan.Zero;
        options.Deduplication.MaxBytes = 0;
        options.Deduplication.Capacity = 1;
        options.Validate();
        Assert.Null(limits.MaxConnections);
        Assert.Null(limits.MaxConcurrentCalls);
        Assert.Null(limits.MaxResponseBufferSize);
        Assert.Equal(65_535, limits.MaxConcurrentCallsPerConnection);
        Assert.Equal(Timeout.InfiniteTimeSpan, limits.IdleTimeout);
    }

    [Fact]
    public void Defaults_AreTheDocumentedOnes()
    {
        var options = new RpcServerOptions();
        Assert.Equal(4 * 1024 * 1024, options.Limits.MaxFrameSize);
        Assert.Equal(8 * 1024, options.Limits.MaxMetadataSize);
        Assert.Equal(10_000, options.Limits.MaxConnections);
        Assert.Equal(100, options.Limits.MaxConcurrentCallsPerConnection);
        Assert.Equal(10_000, options.Limits.MaxConcurrentCalls);
        Assert.Equal(1024 * 1024, options.Limits.MaxResponseBufferSize);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Limits.HandshakeTimeout);
        Assert.Equal(TimeSpan.FromMinutes(2), options.Limits.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Limits.FrameTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Limits.ResponseDrainTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1), options.Limits.GoAwayLinger);
        Assert.Equal(10_000, options.Deduplication.Capacity);
        Assert.Equal(64L * 1024 * 1024, options.Deduplication.MaxBytes);
        Assert.Equal(TimeSpan.FromHours(24), options.Deduplication.Window);
    }

    private static RpcServerOptions Apply(params (string Key, string? Value)[] settings)
    {
        IConfigurationRoot root = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>("RpcGen:Server:" + s.Key, s.Value)))
            .Build();
        return new RpcServerOptions().ApplyConfiguration(root.GetSection("RpcGen:Server"));
    }

    [Fact]
    public void Configuration_BindsEveryGroup()
    {
        RpcServerOptions options = Apply(
            ("Limits:MaxFrameSize", "65536"), ("Limits:MaxMetadataSize", "1024"), ("Limits:MaxConnections", "50"),
            ("Limits:MaxConcurrentCallsPerConnection", "8"), ("Limits:MaxConcurrentCalls", ""), ("Limits:MaxResponseBufferSize", "131072"),
            ("Limits:HandshakeTimeout", "00:00:03"), ("Limits:IdleTimeout", "00:05:00"), ("Limits:FrameTimeout", "00:00:07"),
            ("Limits:ResponseDrainTimeout", "00:00:09"), ("Limits:GoAwayLinger", "00:00:00.500"),
            ("Deduplication:Capacity", "77"), ("Deduplication:MaxBytes", "1000"), ("Deduplication:Window", "1.00:00:00"),
            ("IncludeExceptionDetails", "true"), ("RunHandlersInline", "false"));
        Assert.Equal(65_536, options.Limits.MaxFrameSize);
        Assert.Equal(1024, options.Limits.MaxMetadataSize);
        Assert.Equal(50, options.Limits.MaxConnections);
        Assert.Equal(8, options.Limits.MaxConcurrentCallsPerConnection);
        Assert.Null(options.Limits.MaxConcurrentCalls);
        Assert.Equal(131_072, options.Limits.MaxResponseBufferSize);
        Assert.Equal(TimeSpan.FromSeconds(3), options.Limits.HandshakeTimeout);
        Assert.Equal(TimeSpan.FromMinutes(5), options.Limits.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(7), options.Limits.FrameTimeout);
        Assert.Equal(TimeSpan.FromSeconds(9), options.Limits.ResponseDrainTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(500), options.Limits.GoAwayLinger);
        Assert.Equal(77, options.Deduplication.Capacity);
        Assert.Equal(1000, options.Deduplication.MaxBytes);
        Assert.Equal(TimeSpan.FromDays(1), options.Deduplication.Window);
        Assert.True(options.IncludeExceptionDetails);
        Assert.False(options.RunHandlersInline);
    }

    [Theory]
    [InlineData("MaxConnections", "Limits:MaxConnections")]
    [InlineData("IdleTimeout", "Limits:IdleTimeout")]
    [InlineData("MaxConcurrentCallsPerConnection", "Limits:MaxConcurrentCallsPerConnection")]
    [InlineData("DeduplicationWindow", "Deduplication:Window")]
    [InlineData("DeduplicationCapacity", "Deduplication:Capacity")]
    public void AKeyOfTheFlatLayout_SaysWhereItMoved(string old, string moved)
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => Apply((old, "5")));
        Assert.Contains($"'RpcGen:Server:{old}'", error.Message, StringComparison.Ordinal);
        Assert.Contains($"moved to '{moved}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnInvalidValue_NamesTheSectionAndTheRule()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => Apply(("Limits:MaxConnections", "0")));
        Assert.Contains("'RpcGen:Server:Limits'", error.Message, StringComparison.Ordinal);
        Assert.Contains("RpcServerOptions.Limits.MaxConnections must be positive, or null for no limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownKey_OrABareNumberForADuration_IsNamed()
    {
        ArgumentException unknown = Assert.Throws<ArgumentException>(() => Apply(("Limits:MaxConnectionz", "5")));
        Assert.Contains("RpcGen:Server:Limits", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("MaxConnectionz", unknown.Message, StringComparison.Ordinal);

        ArgumentException top = Assert.Throws<ArgumentException>(() => Apply(("Limitz:MaxConnections", "5")));
        Assert.Contains("unknown setting 'Limitz'", top.Message, StringComparison.Ordinal);

        ArgumentException days = Assert.Throws<ArgumentException>(() => Apply(("Limits:IdleTimeout", "30")));
        Assert.Contains("'RpcGen:Server:Limits:IdleTimeout'", days.Message, StringComparison.Ordinal);
        Assert.Contains("bare number", days.Message, StringComparison.Ordinal);
    }
}

using Microsoft.Extensions.Configuration;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Balancing;

public sealed class ConfigurationTests
{
    private static IConfiguration Section(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection("RpcGen");

    [Fact]
    public async Task Configuration_SetsEndpointsStrategiesAndHealth()
    {
        var options = new RpcClientOptions().ApplyConfiguration(Section(new()
        {
            ["RpcGen:Endpoints:0"] = "10.0.0.1:7000",
            ["RpcGen:Endpoints:1:Address"] = "10.0.0.2:7000",
            ["RpcGen:Endpoints:1:Weight"] = "300",
            ["RpcGen:Endpoints:1:Zone"] = "eu-1a",
            ["RpcGen:Endpoints:1:Tags:rack"] = "r7",
            ["RpcGen:Zone"] = "eu-1a",
            ["RpcGen:LoadBalancing:calc"] = "powerOfTwoChoices",
            ["RpcGen:LoadBalancing:calc/mul"] = "PeakEwma",
            ["RpcGen:ConnectTimeout"] = "00:00:02",
            ["RpcGen:KeepAliveInterval"] = "1500",
            ["RpcGen:ConsistentHashLoadFactor"] = "1.5",
            ["RpcGen:OutlierDetection:ConsecutiveFailures"] = "3",
            ["RpcGen:OutlierDetection:BaseEjectionTime"] = "00:00:10",
            ["RpcGen:OutlierDetection:ActiveHealthChecks"] = "false",
            ["RpcGen:SlowStart:Window"] = "0",
        }));

        Assert.Equal(new[] { RpcEndpoint.Parse("10.0.0.1:7000"), RpcEndpoint.Parse("10.0.0.2:7000") }, options.Endpoints);
        Assert.Equal((300, "eu-1a", "r7"), (options.Endpoints[1].Weight, options.Endpoints[1].Zone, options.Endpoints[1].Tags["rack"]));
        Assert.Equal("eu-1a", options.Zone);
        Assert.Equal(TimeSpan.FromSeconds(2), options.ConnectTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), options.KeepAliveInterval);
        Assert.Equal(1.5, options.ConsistentHashLoadFactor);
        Assert.Equal(3, options.OutlierDetection.ConsecutiveFailures);
        Assert.Equal(TimeSpan.FromSeconds(10), options.OutlierDetection.BaseEjectionTime);
        Assert.False(options.OutlierDetection.ActiveHealthChecks);
        Assert.Equal(TimeSpan.Zero, options.SlowStart.Window);

        await using var client = new RpcClient(options);
        RpcServiceDescriptor calc = RpcServiceRegistry.GetDescriptor<ICalculator>()!;
        Assert.Equal("PowerOfTwoChoices", client.GetBalancer(calc.Methods.Single(m => m.Name == "Add"), null).Name);
        Assert.Equal("PeakEwma", client.GetBalancer(calc.Methods.Single(m => m.Name == "mul"), null).Name);
    }

    [Theory]
    [InlineData("RpcGen:Retries", "3", "unknown setting 'Retries'")]
    [InlineData("RpcGen:OutlierDetection:Consecutive", "3", "unknown setting 'Consecutive'")]
    [InlineData("RpcGen:LoadBalancing:calc", "Fastest", "'Fastest' is not a load-balancing strategy; use one of RoundRobin")]
    [InlineData("RpcGen:LoadBalancing:calc", "7", "'7' is not a load-balancing strategy")]
    [InlineData("RpcGen:MaxFrameSize", "4MB", "'4MB' is not a whole number")]
    [InlineData("RpcGen:ConnectTimeout", "soon", "is not a duration")]
    [InlineData("RpcGen:Endpoints:0", "no-port", "'no-port' is not an endpoint")]
    [InlineData("RpcGen:Endpoints:0:Weight", "5", "an endpoint needs an Address")]
    [InlineData("RpcGen:Policies:orders/Get:Retry:MaxAttempts", "0", "MaxAttempts is 0; it must be at least 1")]
    [InlineData("RpcGen:Policies:orders/Get:Retry:Attempts", "3", "unknown setting 'Attempts'")]
    [InlineData("RpcGen:Policies:orders/Get:CircuitBreaker:FailureRatio", "1.5", "FailureRatio is 1.5; it must be in (0, 1]")]
    [InlineData("RpcGen:Policies:orders/Get:Hedging:DelayMs", "-1", "DelayMs is -1")]
    [InlineData("RpcGen:Policies:orders/Get:Retry:RetryableStatusCodes:0", "Broken", "'Broken' is not a status code")]
    public void InvalidConfiguration_NamesTheKey(string key, string value, string expected)
    {
        ArgumentException error = Assert.ThrowsAny<ArgumentException>(() => new RpcClientOptions().ApplyConfiguration(Section(new() { [key] = value })));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains("RpcGen configuration 'RpcGen:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Configuration_OverridesPoliciesAndTheRetryBudget()
    {
        var options = new RpcClientOptions().ApplyConfiguration(Section(new()
        {
            ["RpcGen:Policies:orders:TimeoutMs"] = "1500",
            ["RpcGen:Policies:orders/Get:Idempotent"] = "true",
            ["RpcGen:Policies:orders/Get:Retry:MaxAttempts"] = "5",
            ["RpcGen:Policies:orders/Get:Retry:PerAttemptTimeoutMs"] = "200",
            ["RpcGen:Policies:orders/Get:Retry:RetryableStatusCodes:0"] = "Unavailable",
            ["RpcGen:Policies:orders/Get:Retry:RetryableStatusCodes:1"] = "ResourceExhausted",
            ["RpcGen:Policies:orders/Quote:Hedging:MaxAttempts"] = "3",
            ["RpcGen:Policies:orders/Quote:Hedging:AdaptiveDelay"] = "true",
            ["RpcGen:Policies:orders/Stock:CircuitBreaker:MinimumThroughput"] = "50",
            ["RpcGen:RetryBudget:Ratio"] = "0.1",
            ["RpcGen:RetryBudget:Window"] = "00:00:30",
        }));

        Assert.Equal(1500, options.Policies["orders"].TimeoutMs);
        RpcPolicyOverride get = options.Policies["orders/Get"];
        Assert.True(get.Idempotent);
        Assert.Equal(5, get.Retry!.MaxAttempts);
        Assert.Equal(200, get.Retry.PerAttemptTimeoutMs);
        Assert.Equal(new[] { RpcStatusCode.Unavailable, RpcStatusCode.ResourceExhausted }, get.Retry.RetryableStatusCodes);
        Assert.Equal(3, options.Policies["orders/Quote"].Hedging!.MaxAttempts);
        Assert.True(options.Policies["orders/Quote"].Hedging!.AdaptiveDelay);
        Assert.Equal(50, options.Policies["orders/Stock"].CircuitBreaker!.MinimumThroughput);
        Assert.Equal(0.1, options.RetryBudget.Ratio);
        Assert.Equal(TimeSpan.FromSeconds(30), options.RetryBudget.Window);
    }
}

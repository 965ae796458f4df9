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
            ["RpcGen:Balancing:Zone"] = "eu-1a",
            ["RpcGen:Balancing:Strategies:calc"] = "powerOfTwoChoices",
            ["RpcGen:Balancing:Strategies:calc/mul"] = "PeakEwma",
            ["RpcGen:Connection:ConnectTimeout"] = "00:00:02",
            ["RpcGen:Connection:KeepAliveInterval"] = "00:00:01.500",
            ["RpcGen:Connection:MaxFrameSize"] = "65536",
            ["RpcGen:Balancing:ConsistentHashLoadFactor"] = "1.5",
            ["RpcGen:Balancing:OutlierDetection:ConsecutiveFailures"] = "3",
            ["RpcGen:Balancing:OutlierDetection:BaseEjectionTime"] = "00:00:10",
            ["RpcGen:Balancing:OutlierDetection:ActiveHealthChecks"] = "false",
            ["RpcGen:Balancing:SlowStart:Window"] = "0",
            ["RpcGen:Resilience:DefaultTimeout"] = "0",
        }));

        Assert.Equal(new[] { RpcEndpoint.Parse("10.0.0.1:7000"), RpcEndpoint.Parse("10.0.0.2:7000") }, options.Endpoints);
        Assert.Equal((300, "eu-1a", "r7"), (options.Endpoints[1].Weight, options.Endpoints[1].Zone, options.Endpoints[1].Tags["rack"]));
        Assert.Equal("eu-1a", options.Balancing.Zone);
        Assert.Equal(TimeSpan.FromSeconds(2), options.Connection.ConnectTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), options.Connection.KeepAliveInterval);
        Assert.Equal(65536, options.Connection.MaxFrameSize);
        Assert.Equal(TimeSpan.Zero, options.Resilience.DefaultTimeout); // "0": no default deadline
        Assert.Equal(1.5, options.Balancing.ConsistentHashLoadFactor);
        Assert.Equal(3, options.Balancing.OutlierDetection.ConsecutiveFailures);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Balancing.OutlierDetection.BaseEjectionTime);
        Assert.False(options.Balancing.OutlierDetection.ActiveHealthChecks);
        Assert.Equal(TimeSpan.Zero, options.Balancing.SlowStart.Window);

        await using var client = new RpcClient(options);
        RpcServiceDescriptor calc = RpcServiceRegistry.GetDescriptor<ICalculator>()!;
        Assert.Equal("PowerOfTwoChoices", client.GetBalancer(calc.Methods.Single(m => m.Name == "Add"), null).Name);
        Assert.Equal("PeakEwma", client.GetBalancer(calc.Methods.Single(m => m.Name == "mul"), null).Name);
    }

    [Theory]
    [InlineData("RpcGen:Retries", "3", "unknown setting 'Retries'; known settings here: Endpoints, Connection, Balancing, Resilience")]
    [InlineData("RpcGen:Balancing:OutlierDetection:Consecutive", "3", "were not found on the instance of RpcGen.Balancing.OutlierDetectionOptions: 'Consecutive'")]
    [InlineData("RpcGen:Balancing:Strategies:calc", "Fastest", "'RpcGen:Balancing:Strategies:calc' to type 'RpcGen.LoadBalanceStrategy'")]
    [InlineData("RpcGen:Balancing:Strategies:calc", "7", "'7' is not a load-balancing strategy; use one of RoundRobin")]
    [InlineData("RpcGen:Connection:MaxFrameSize", "4MB", "'RpcGen:Connection:MaxFrameSize' to type 'System.Int32'")]
    [InlineData("RpcGen:Connection:ConnectTimeout", "soon", "'RpcGen:Connection:ConnectTimeout' to type 'System.TimeSpan'")]
    [InlineData("RpcGen:Connection:KeepAliveInterval", "1500", "'1500' is a bare number, which .NET reads as 1500 days")]
    [InlineData("RpcGen:Resilience:RetryBudget:Window", "10", "'10' is a bare number")]
    [InlineData("RpcGen:Endpoints:0", "no-port", "'no-port' is not an endpoint")]
    [InlineData("RpcGen:Endpoints:0:Weight", "5", "an endpoint needs an Address")]
    [InlineData("RpcGen:Endpoints:0:Port", "5", "unknown setting 'Port'")]
    [InlineData("RpcGen:Resilience:Policies:orders/Get:Retry:MaxAttempts", "0", "MaxAttempts is 0; it must be at least 1")]
    [InlineData("RpcGen:Resilience:Policies:orders/Get:TimeoutMs", "-5", "'RpcGen:Resilience:Policies:orders/Get:TimeoutMs': -5 must be 0")]
    [InlineData("RpcGen:Resilience:Policies:orders/Get:Retry:Attempts", "3", "RpcGen.Resilience.RpcRetryPolicy: 'Attempts'")]
    [InlineData("RpcGen:Resilience:Policies:orders/Get:CircuitBreaker:FailureRatio", "1.5", "FailureRatio is 1.5; it must be in (0, 1]")]
    [InlineData("RpcGen:Resilience:Policies:orders/Get:Hedging:DelayMs", "-1", "DelayMs is -1")]
    [InlineData("RpcGen:Resilience:Policies:orders/Get:Retry:RetryableStatusCodes:0", "Broken", "RetryableStatusCodes:0' to type 'RpcGen.RpcStatusCode'")]
    [InlineData("RpcGen:ConnectTimeout", "00:00:02", "'ConnectTimeout' moved to 'Connection:ConnectTimeout'")]
    [InlineData("RpcGen:LoadBalancing:calc", "Random", "'LoadBalancing' moved to 'Balancing:Strategies'")]
    [InlineData("RpcGen:OutlierDetection:Enabled", "false", "'OutlierDetection' moved to 'Balancing:OutlierDetection'")]
    [InlineData("RpcGen:Policies:orders:TimeoutMs", "5", "'Policies' moved to 'Resilience:Policies'")]
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
            ["RpcGen:Resilience:Policies:orders:TimeoutMs"] = "1500",
            ["RpcGen:Resilience:Policies:orders/Get:Idempotent"] = "true",
            ["RpcGen:Resilience:Policies:orders/Get:Retry:MaxAttempts"] = "5",
            ["RpcGen:Resilience:Policies:orders/Get:Retry:PerAttemptTimeoutMs"] = "200",
            ["RpcGen:Resilience:Policies:orders/Get:Retry:RetryableStatusCodes:0"] = "Unavailable",
            ["RpcGen:Resilience:Policies:orders/Get:Retry:RetryableStatusCodes:1"] = "ResourceExhausted",
            ["RpcGen:Resilience:Policies:orders/Quote:Hedging:MaxAttempts"] = "3",
            ["RpcGen:Resilience:Policies:orders/Quote:Hedging:AdaptiveDelay"] = "true",
            ["RpcGen:Resilience:Policies:orders/Stock:CircuitBreaker:MinimumThroughput"] = "50",
            ["RpcGen:Resilience:RetryBudget:Ratio"] = "0.1",
            ["RpcGen:Resilience:RetryBudget:Window"] = "00:00:30",
            ["RpcGen:Resilience:DefaultTimeout"] = "00:00:00.250",
        }));

        Assert.Equal(1500, options.Resilience.Policies["orders"].TimeoutMs);
        RpcPolicyOverride get = options.Resilience.Policies["orders/Get"];
        Assert.True(get.Idempotent);
        Assert.Equal(5, get.Retry!.MaxAttempts);
        Assert.Equal(200, get.Retry.PerAttemptTimeoutMs);
        Assert.Equal(new[] { RpcStatusCode.Unavailable, RpcStatusCode.ResourceExhausted }, get.Retry.RetryableStatusCodes);
        Assert.Equal(3, options.Resilience.Policies["orders/Quote"].Hedging!.MaxAttempts);
        Assert.True(options.Resilience.Policies["orders/Quote"].Hedging!.AdaptiveDelay);
        Assert.Equal(50, options.Resilience.Policies["orders/Stock"].CircuitBreaker!.MinimumThroughput);
        Assert.Equal(0.1, options.Resilience.RetryBudget.Ratio);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Resilience.RetryBudget.Window);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.Resilience.DefaultTimeout);
        Assert.Null(get.Hedging); // keys not written keep their value
        Assert.Equal(RpcRetryPolicy.DefaultInitialBackoffMs, get.Retry.InitialBackoffMs);
    }

    [Fact]
    public void Configuration_KeepsWhatCodeSet_AndChangesOnlyTheKeysItHas()
    {
        var options = new RpcClientOptions { Balancing = { Zone = "code", OutlierDetection = { ConsecutiveFailures = 9 } } };
        options.Resilience.Policies["orders"] = new RpcPolicyOverride { TimeoutMs = 100, Idempotent = true };
        options.ApplyConfiguration(Section(new()
        {
            ["RpcGen:Balancing:OutlierDetection:Interval"] = "00:00:02",
            ["RpcGen:Resilience:Policies:orders:TimeoutMs"] = "700",
        }));

        Assert.Equal(("code", 9, TimeSpan.FromSeconds(2)), (options.Balancing.Zone, options.Balancing.OutlierDetection.ConsecutiveFailures, options.Balancing.OutlierDetection.Interval));
        Assert.Equal((700, true), (options.Resilience.Policies["orders"].TimeoutMs, options.Resilience.Policies["orders"].Idempotent));
    }

    [Fact]
    public void DurationKeys_ListEveryTimeSpanSetting()
    {
        // The bare-number check must know every duration the binder binds; a new TimeSpan option must be added there.
        var found = new List<string>();
        void Walk(Type type, string path)
        {
            foreach (System.Reflection.PropertyInfo property in type.GetProperties())
            {
                if (property.PropertyType == typeof(TimeSpan))
                {
                    found.Add(path + property.Name);
                }
                else if (property.PropertyType.Name.EndsWith("Options", StringComparison.Ordinal) && property.PropertyType.Namespace!.StartsWith("RpcGen", StringComparison.Ordinal))
                {
                    Walk(property.PropertyType, path + property.Name + ":");
                }
            }
        }

        Walk(typeof(ConnectionOptions), "Connection:");
        Walk(typeof(LoadBalancingOptions), "Balancing:");
        Walk(typeof(ResilienceOptions), "Resilience:");
        Assert.Equal(found.Order(StringComparer.Ordinal), RpcClientConfiguration.DurationKeys.Order(StringComparer.Ordinal));
    }

    /// <summary>Every JSON block of the docs that configures a client ("RpcGen": …) binds without an error.</summary>
    [Theory]
    [InlineData("docs/configuration.md")]
    [InlineData("docs/resilience.md")]
    public void JsonExamplesInTheDocs_Bind(string file)
    {
        string text = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, file));
        var blocks = System.Text.RegularExpressions.Regex.Matches(text, "```json\n(.*?)```", System.Text.RegularExpressions.RegexOptions.Singleline)
            .Select(m => m.Groups[1].Value)
            .Where(json => json.Contains("\"RpcGen\"", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(blocks);
        foreach (string json in blocks)
        {
            IConfiguration configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json))).Build();
            var options = new RpcClientOptions().ApplyConfiguration(configuration.GetSection("RpcGen"));
            Assert.True(options.Resilience.Policies.Count > 0 || options.Endpoints.Count > 0, json);
        }
    }
}

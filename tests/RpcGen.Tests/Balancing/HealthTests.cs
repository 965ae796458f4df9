using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Balancing;

/// <summary>Outlier detection, panic threshold, slow start and endpoint changes, on a manual clock.</summary>
public sealed class HealthTests
{
    private static RpcClient Client(FakeTimeProvider time, int endpoints, Action<RpcClientOptions>? configure = null)
    {
        var options = new RpcClientOptions { TimeProvider = time };
        for (int i = 0; i < endpoints; i++)
        {
            options.Endpoints.Add(new RpcEndpoint("10.0.0." + (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), 7000));
        }

        options.Balancing.OutlierDetection.ActiveHealthChecks = false; // these endpoints do not exist
        configure?.Invoke(options);
        return new RpcClient(options);
    }

    private static void Fail(RpcClient client, RpcEndpointState endpoint, int times) => End(client, endpoint, times, CallOutcome.Failure);

    private static void Succeed(RpcClient client, RpcEndpointState endpoint, int times) => End(client, endpoint, times, CallOutcome.Success);

    /// <summary>Attempts that end with <paramref name="outcome"/>, reported the way the client reports them.</summary>
    private static void End(RpcClient client, RpcEndpointState endpoint, int times, CallOutcome outcome)
    {
        for (int i = 0; i < times; i++)
        {
            client.CallStarted(endpoint);
            client.CallEnded(endpoint, 0, outcome);
        }
    }

    [Fact]
    public async Task ConsecutiveFailures_EjectForTheBaseTime_ThenReadmit()
    {
        var time = new FakeTimeProvider();
        await using RpcClient client = Client(time, 3);
        RpcEndpointState bad = client.Endpoints[1];

        Fail(client, bad, 4);
        Succeed(client, bad, 1); // a success resets the run
        Fail(client, bad, 4);
        Assert.False(bad.IsEjected);
        Fail(client, bad, 1);
        Assert.True(bad.IsEjected);
        Assert.DoesNotContain(bad, client.EndpointSet.Candidates);

        time.Advance(TimeSpan.FromSeconds(29));
        Assert.True(bad.IsEjected);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(bad.IsEjected);
        Assert.Contains(bad, client.EndpointSet.Candidates);
    }

    /// <summary>Two in-process servers that answer pings; health is driven by outcomes recorded on their states.</summary>
    private static async Task<(RpcServer, RpcServer, RpcClient)> ReachableAsync(FakeTimeProvider time)
    {
        var first = new RpcServer(new RpcServerOptions());
        first.Map<ICalculator>(new Calculator("a"));
        await first.StartAsync();
        var second = new RpcServer(new RpcServerOptions());
        second.Map<ICalculator>(new Calculator("b"));
        await second.StartAsync();
        var client = new RpcClient(new RpcClientOptions { TimeProvider = time, Endpoints = { first.InProcessEndpoint, second.InProcessEndpoint } });
        return (first, second, client);
    }

    [Fact]
    public async Task EjectedForFailingCalls_StaysOutForItsEjectionTime_ThoughItAnswersPings()
    {
        var time = new FakeTimeProvider();
        (RpcServer first, RpcServer second, RpcClient client) = await ReachableAsync(time);
        await using (first)
        await using (second)
        await using (client)
        {
            RpcEndpointState bad = client.Endpoints[0];
            await client.PingAsync(bad.Endpoint); // reachable: the connection is up and answers pings
            Fail(client, bad, 5);                         // but its calls fail (Unavailable from a working connection)
            Assert.True(bad.IsEjected);

            for (int second_ = 1; second_ < 30; second_++)
            {
                time.Advance(TimeSpan.FromSeconds(1)); // one health review (and, before the fix, one ping) per second
                await Task.Delay(20);
                Assert.True(bad.IsEjected, $"re-admitted after {second_} s, before its 30 s ejection time");
            }

            time.Advance(TimeSpan.FromSeconds(2));
            Assert.False(bad.IsEjected);
        }
    }

    [Fact]
    public async Task EjectedBecauseUnreachable_IsReadmittedByAPing()
    {
        var time = new FakeTimeProvider();
        (RpcServer first, RpcServer second, RpcClient client) = await ReachableAsync(time);
        await using (first)
        await using (second)
        await using (client)
        {
            RpcEndpointState flaky = client.Endpoints[0];
            End(client, flaky, 5, CallOutcome.ConnectFailure); // could not connect (it is back now)

            Assert.True(flaky.IsEjected);
            int seconds = 0;
            while (flaky.IsEjected && seconds < 25)
            {
                time.Advance(TimeSpan.FromSeconds(1));
                seconds++;
                for (int wait = 0; wait < 40 && flaky.IsEjected; wait++)
                {
                    await Task.Delay(25); // the ping runs on the real in-process connection
                }
            }

            Assert.False(flaky.IsEjected, "a ping that succeeds re-admits an endpoint ejected because it was unreachable");
            Assert.True(seconds < 25, $"re-admitted only after {seconds} s (ejection time: 30 s)");
        }
    }

    [Fact]
    public async Task RepeatEjections_Double_UpToTheMaximum()
    {
        var time = new FakeTimeProvider();
        await using RpcClient client = Client(time, 3, o => o.Balancing.OutlierDetection.MaxEjectionTime = TimeSpan.FromSeconds(100));
        RpcEndpointState bad = client.Endpoints[0];
        foreach (int seconds in new[] { 30, 60, 100, 100 })
        {
            Fail(client, bad, 5);
            Assert.True(bad.IsEjected);
            time.Advance(TimeSpan.FromSeconds(seconds - 1));
            Assert.True(bad.IsEjected, $"readmitted before {seconds} s");
            time.Advance(TimeSpan.FromSeconds(2));
            Assert.False(bad.IsEjected, $"still ejected after {seconds} s");
        }
    }

    [Fact]
    public async Task MaxEjectionPercent_IsNeverExceeded()
    {
        var time = new FakeTimeProvider();
        await using RpcClient client = Client(time, 4); // 50% of 4 = 2
        foreach (RpcEndpointState endpoint in client.Endpoints)
        {
            Fail(client, endpoint, 10);
        }

        Assert.Equal(2, client.Endpoints.Count(e => e.IsEjected));
    }

    [Fact]
    public async Task PanicThreshold_BalancesOverAllWhenTooFewAreHealthy()
    {
        var time = new FakeTimeProvider();
        await using RpcClient client = Client(time, 4, o =>
        {
            o.Balancing.OutlierDetection.MaxEjectionPercent = 100;
            o.Balancing.OutlierDetection.PanicThresholdPercent = 50;
        });
        Fail(client, client.Endpoints[0], 5);
        Assert.Equal(3, client.EndpointSet.Candidates.Length);
        Fail(client, client.Endpoints[1], 5);
        Assert.Equal(2, client.EndpointSet.Candidates.Length); // exactly 50% healthy: not yet panic
        Fail(client, client.Endpoints[2], 5);
        Assert.True(client.EndpointSet.Panic);
        Assert.Equal(4, client.EndpointSet.Candidates.Length); // 25% healthy: all four take calls again
    }

    [Fact]
    public async Task SuccessRateOutlier_IsEjected()
    {
        var time = new FakeTimeProvider();
        await using RpcClient client = Client(time, 5, o => o.Balancing.OutlierDetection.ConsecutiveFailures = 1000);
        for (int i = 0; i < 5; i++)
        {
            Succeed(client, client.Endpoints[i], i == 3 ? 50 : 200);
            Fail(client, client.Endpoints[i], i == 3 ? 150 : 2); // endpoint 3: 25% success, the others 99%
        }

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(client.Endpoints[3].IsEjected);
        Assert.Equal(1, client.Endpoints.Count(e => e.IsEjected));
    }

    [Fact]
    public async Task SuccessRates_AreJudgedOncePerInterval_OnlyWithThreePeersWithEnoughCalls()
    {
        var time = new FakeTimeProvider();
        await using RpcClient client = Client(time, 4, o =>
        {
            o.Balancing.OutlierDetection.ConsecutiveFailures = 1000;
            o.Balancing.OutlierDetection.Interval = TimeSpan.FromSeconds(1);
            o.Balancing.OutlierDetection.SuccessRateInterval = TimeSpan.FromSeconds(10);
            o.Balancing.OutlierDetection.SuccessRateStdevFactor = 0.5; // low, so that two rates alone would already make a verdict
            o.Balancing.OutlierDetection.MaxEjectionPercent = 100;
        });
        RpcEndpointState[] e = client.Endpoints.ToArray();

        // Only two endpoints with the minimum of 100 calls (the others have 99): too few to tell an outlier from the norm.
        Succeed(client, e[0], 200);
        Succeed(client, e[1], 99);
        Succeed(client, e[2], 99);
        Succeed(client, e[3], 20);
        Fail(client, e[3], 180);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(e, x => x.IsEjected);

        // A new window with exactly three that count. Nothing is judged before the window ends, though Interval ticks.
        Succeed(client, e[0], 200);
        Succeed(client, e[1], 100);
        Succeed(client, e[2], 99);
        Succeed(client, e[3], 20);
        Fail(client, e[3], 180);
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(e[3].IsEjected, "judged before SuccessRateInterval passed");
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(e[3].IsEjected);
        Assert.Equal(1, e.Count(x => x.IsEjected));
    }

    [Theory]
    [InlineData(70, true)]  // rates 100, 97, 94, 91 and 70 %: mean 90.4 %, deviation 10.6 %, threshold 70.2 %
    [InlineData(85, false)] // rates 100, 97, 94, 91 and 85 %: mean 93.4 %, deviation 5.2 %, threshold 83.6 %
    public async Task SuccessRate_BelowMeanMinusStdevFactorDeviations_IsAnOutlier(int lastRate, bool ejected)
    {
        var time = new FakeTimeProvider();
        await using RpcClient client = Client(time, 5, o => o.Balancing.OutlierDetection.ConsecutiveFailures = 1000);
        int[] rates = { 100, 97, 94, 91, lastRate };
        for (int i = 0; i < 5; i++)
        {
            Succeed(client, client.Endpoints[i], rates[i]);
            Fail(client, client.Endpoints[i], 100 - rates[i]);
        }

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(ejected, client.Endpoints[4].IsEjected);
        Assert.Equal(ejected ? 1 : 0, client.Endpoints.Count(x => x.IsEjected));
    }

    [Fact]
    public async Task Readmission_StartsANewRunOfFailures_AndAnEjectedEndpointIsNotEjectedAgain()
    {
        var time = new FakeTimeProvider();
        await using RpcClient client = Client(time, 3);
        RpcEndpointState bad = client.Endpoints[0];
        Fail(client, bad, 5);
        Assert.True(bad.IsEjected);
        Fail(client, bad, 20); // calls that were in flight fail while it is out: the ejection time stays 30 s
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.False(bad.IsEjected);

        Fail(client, bad, 4); // a new run: four failures are not five
        Assert.False(bad.IsEjected);
        Fail(client, bad, 1);
        Assert.True(bad.IsEjected);
    }

    [Fact]
    public async Task SlowStart_RampsTheWeightOfAReadmittedEndpoint()
    {
        var time = new FakeTimeProvider();
        await using RpcClient client = Client(time, 3, o => o.Balancing.SlowStart.Window = TimeSpan.FromSeconds(10));
        RpcEndpointState endpoint = client.Endpoints[0];
        Assert.Equal(100, endpoint.GetWeight(time.GetTimestamp())); // initial endpoints start at full weight

        Fail(client, endpoint, 5);
        time.Advance(TimeSpan.FromSeconds(30)); // the review tick at 30 s re-admits it: slow start begins
        Assert.False(endpoint.IsEjected);
        long start = time.GetTimestamp();
        Assert.Equal(10, endpoint.GetWeight(start), 1);                                   // minimum 10%
        Assert.Equal(50, endpoint.GetWeight(start + (5 * time.TimestampFrequency)), 1);   // linear with aggression 1
        Assert.Equal(100, endpoint.GetWeight(start + (10 * time.TimestampFrequency)), 1);
    }

    [Fact]
    public async Task EndpointSource_AddsWithSlowStart_RemovesAndReweights()
    {
        var time = new FakeTimeProvider();
        var a = new RpcEndpoint("10.0.0.1", 7000);
        var b = new RpcEndpoint("10.0.0.2", 7000);
        var source = new StaticEndpointSource(new[] { a, b });
        await using var client = new RpcClient(new RpcClientOptions { TimeProvider = time, EndpointSource = source });
        Assert.Equal(new[] { a, b }, client.Endpoints.Select(e => e.Endpoint));
        RpcEndpointState stateA = client.Endpoints[0];

        var c = new RpcEndpoint("10.0.0.3", 7000);
        source.Update(new[] { a.With(weight: 300), c });

        Assert.Equal(new[] { a, c }, client.Endpoints.Select(e => e.Endpoint));
        Assert.Same(stateA, client.Endpoints[0]);                              // kept, with its counters
        Assert.Equal(300, client.Endpoints[0].Endpoint.Weight);                 // re-weighted
        Assert.Equal(10, client.Endpoints[1].GetWeight(time.GetTimestamp()), 1); // the newcomer warms up
        Assert.DoesNotContain(client.EndpointSet.Candidates, e => e.Endpoint.Equals(b));
    }

    [Fact]
    public async Task OptionsOverrideTheAttributeStrategy()
    {
        var options = new RpcClientOptions { Endpoints = { new RpcEndpoint("10.0.0.1", 7000) } };
        options.Balancing.Strategies["calc"] = LoadBalanceStrategy.Random;
        options.Balancing.Strategies["calc/mul"] = LoadBalanceStrategy.PeakEwma;
        await using var client = new RpcClient(options);
        RpcServiceDescriptor calc = RpcServiceRegistry.GetDescriptor<ICalculator>()!;
        Assert.Equal("Random", client.GetBalancer(calc.Methods.Single(m => m.Name == "Add"), null).Name);
        Assert.Equal("PeakEwma", client.GetBalancer(calc.Methods.Single(m => m.Name == "mul"), null).Name);
    }
}

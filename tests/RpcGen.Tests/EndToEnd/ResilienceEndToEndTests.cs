using System.Diagnostics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Polly;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

/// <summary>Retries, idempotency, deduplication, deadlines, hedging, circuits, budget and broadcast against real servers on loopback.</summary>
[Collection(SerialCollection.Name)]
public sealed class ResilienceEndToEndTests
{
    /// <summary>Servers with a <see cref="FaultyOrders"/> each (s0, s1, …); clients with ejection off, since these tests watch the policies.</summary>
    private static Task<ServerCluster<FaultyOrders>> StartAsync(int count) =>
        ServerCluster.StartAsync(count, i => new FaultyOrders($"s{i}"), static (server, orders) => server.Map<IOrders>(orders));

    private static RpcException Unavailable() => new(RpcStatusCode.Unavailable, "injected");

    [Fact]
    public async Task IdempotentCall_IsRetriedOnOtherEndpoints_UntilOneSucceeds()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        cluster.Services[0].Fail = Unavailable;
        cluster.Services[1].Fail = Unavailable;
        await using RpcClient client = cluster.Resilient();
        IOrders orders = client.CreateProxy<IOrders>();

        for (int i = 0; i < 10; i++)
        {
            Assert.Equal($"s2:{i}", await orders.GetAsync(i).WaitAsync(NoHang));
        }

        // Each call tried each endpoint at most once: never more than three runs, and the healthy one ran every call.
        Assert.Equal(10, cluster.Services[2].RunsOf("Get"));
        Assert.InRange(cluster.Services[0].RunsOf("Get"), 1, 10);
        Assert.InRange(cluster.Services[1].RunsOf("Get"), 1, 10);
        Assert.InRange(cluster.Runs("Get"), 10, 30);
    }

    [Fact]
    public async Task Retries_AreEventsOnTheCallsSpan_WithTheirReasons()
    {
        var spans = new System.Collections.Concurrent.ConcurrentQueue<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == RpcGenTracing.SourceName,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        cluster.FailAll(Unavailable);
        await using RpcClient client = cluster.Resilient();
        await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IOrders>().GetAsync(7).WaitAsync(NoHang));

        System.Diagnostics.Activity span = Assert.Single(spans, s => s.Kind == System.Diagnostics.ActivityKind.Client && s.DisplayName == "orders/Get");
        System.Diagnostics.ActivityEvent[] retries = span.Events.Where(e => e.Name == "rpcgen.retry").ToArray();
        Assert.Equal(2, retries.Length); // three attempts
        Assert.Equal(new[] { 2, 3 }, retries.Select(e => (int)e.Tags.Single(t => t.Key == "rpcgen.attempt").Value!));
        Assert.All(retries, e => Assert.Equal((int)RpcStatusCode.Unavailable, e.Tags.Single(t => t.Key == "rpc.rpcgen.status_code").Value));
        Assert.Equal(3, span.Events.Count(e => e.Name == "rpcgen.attempt"));
        Assert.Equal(3, span.Events.Count(e => e.Name == "rpcgen.attempt.failed"));
    }

    [Fact]
    public async Task IdempotentCall_GivesUpAfterMaxAttempts_WithTheLastError()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        cluster.FailAll(Unavailable);

        await using RpcClient client = cluster.Resilient();
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IOrders>().GetAsync(1).WaitAsync(NoHang));
        Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
        Assert.Equal(3, cluster.Runs("Get")); // MaxAttempts = 3: one per endpoint
        Assert.All(cluster.Services, o => Assert.Equal(1, o.RunsOf("Get")));
    }

    [Fact]
    public async Task NonIdempotentCall_WhoseRequestWasSent_IsNotRetried_EvenWithRetryOnTheInterface()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        cluster.FailAll(Unavailable);

        await using RpcClient client = cluster.Resilient();
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IOrders>().PlaceAsync(7).WaitAsync(NoHang));
        Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
        Assert.Equal(1, cluster.Runs("Place")); // the handler ran once: running it again could place the order twice
    }

    [Fact]
    public async Task NonIdempotentCall_IsRetriedElsewhere_WhenItsEndpointRefusedTheConnection()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        await cluster.Servers[0].DisposeAsync(); // nothing listens there any more: the request can never reach a handler
        await using RpcClient client = cluster.Resilient();
        IOrders orders = client.CreateProxy<IOrders>();
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal($"s1:placed:{i}", await orders.PlaceAsync(i).WaitAsync(NoHang));
        }

        Assert.Equal(6, cluster.Services[1].RunsOf("Place"));
    }

    [Fact]
    public async Task DeduplicatedCall_RetriedAfterItsAttemptTimedOut_RunsOnce_AndEveryAttemptGetsTheFirstResult()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        await using RpcClient client = cluster.Resilient();
        IOrders orders = client.CreateProxy<IOrders>();

        // Each attempt times out after 60 ms while the handler takes 150 ms; the retries carry the same call id, go back
        // to the same server, and wait for the first run's answer instead of charging again.
        int charged = await orders.ChargeAsync(100).WaitAsync(NoHang);
        Assert.Equal(100, charged);
        Assert.Equal(1, cluster.Runs("Charge"));

        // A new call is a new id: it runs (once) again.
        int second = await orders.ChargeAsync(100).WaitAsync(NoHang);
        Assert.Contains(second, new[] { 100, 200 }); // 100 from the other server, 200 from the same one
        Assert.Equal(2, cluster.Runs("Charge"));
    }

    [Fact]
    public async Task Deadline_BoundsTheWholeCall_RetriesIncluded_AndTheHandlersTokensFire()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        await using RpcClient client = cluster.Resilient();
        IOrders orders = client.CreateProxy<IOrders>();

        var watch = Stopwatch.StartNew();
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => orders.HangAsync().WaitAsync(NoHang));
        watch.Stop();

        // Timeout(300) with 100 ms attempts: about three attempts, then the overall deadline stops the retries although
        // MaxAttempts (5) would allow more; never before the deadline.
        Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
        Assert.True(watch.ElapsedMilliseconds >= 250, $"the 300 ms deadline fired after {watch.ElapsedMilliseconds} ms");
        Assert.InRange(cluster.Runs("Hang"), 2, 4);
        await Wait.UntilAsync(() => cluster.Services.Sum(o => o.Cancelled) == cluster.Runs("Hang"));
    }

    [Fact]
    public async Task Hedging_CutsTheTail_WhenOneOfThreeServersIsSlow_AndCancelsTheLosers()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        cluster.Services[0].QuoteDelayMs = 2000;
        await using RpcClient client = cluster.Resilient();
        IOrders orders = client.CreateProxy<IOrders>();

        var quotes = new List<string>();
        for (int i = 0; i < 30; i++)
        {
            string quote = await orders.QuoteAsync(i).WaitAsync(NoHang);
            Assert.EndsWith($":quote:{i}", quote);
            quotes.Add(quote);
        }

        // Without hedging a third of the calls would wait 2 s for the slow server's answer; with a 20 ms hedge a fast
        // server answers each of them, although the slow one was asked.
        Assert.True(cluster.Services[0].RunsOf("Quote") > 0);
        Assert.DoesNotContain(quotes, q => q.StartsWith(cluster.Services[0].Name + ":", StringComparison.Ordinal));
        // The slow server's attempts lost, and their handlers' tokens fired (cancel frames reached the server).
        await Wait.UntilAsync(() => cluster.Services[0].Cancelled == cluster.Services[0].RunsOf("Quote"));
    }

    [Fact]
    public async Task Hedging_WithTheBudgetSpent_SkipsTheHedges_AndWaitsForTheFirstAttempt()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        cluster.Services[0].QuoteDelayMs = 100;
        cluster.Services[1].QuoteDelayMs = 100;
        await using RpcClient client = cluster.Resilient(o =>
        {
            o.Resilience.RetryBudget.Ratio = 0;
            o.Resilience.RetryBudget.MinRetriesPerSecond = 0;
        });
        IOrders orders = client.CreateProxy<IOrders>();
        for (int i = 0; i < 3; i++)
        {
            Assert.EndsWith($":quote:{i}", await orders.QuoteAsync(i).WaitAsync(NoHang)); // the first attempt's answer, not the skip
        }

        Assert.Equal(3, cluster.Runs("Quote")); // no hedge was sent
        Assert.Equal(0, cluster.Services.Sum(o => o.Cancelled));

        // When the first attempt fails and no hedge may follow, the caller sees that attempt's error, not the skip.
        cluster.FailAll(() => new RpcException(RpcStatusCode.Unavailable, "injected"));
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => orders.QuoteAsync(9).WaitAsync(NoHang));
        Assert.Equal("injected", error.Message);
    }

    [Fact]
    public async Task CircuitBreaker_Opens_FailsFast_HalfOpens_AndCloses()
    {
        var time = new FakeTimeProvider();
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(1);
        cluster.Services[0].Fail = Unavailable;
        await using RpcClient client = cluster.Resilient(o => o.TimeProvider = time);
        IOrders orders = client.CreateProxy<IOrders>();

        for (int i = 0; i < 4; i++)
        {
            await Assert.ThrowsAsync<RpcException>(() => orders.StockAsync(i).WaitAsync(NoHang));
        }

        RpcEndpointState endpoint = client.Endpoints[0];
        Assert.Equal(RpcCircuitState.Open, client.GetCircuitState("orders/Stock", endpoint));
        RpcException fast = await Assert.ThrowsAsync<RpcException>(() => orders.StockAsync(9).WaitAsync(NoHang));
        Assert.Equal(RpcStatusCode.Unavailable, fast.StatusCode);
        Assert.Contains("circuit", fast.Message);
        Assert.Equal(4, cluster.Runs("Stock")); // failed fast: the server never saw the fifth call

        // After the break one probe goes through; it succeeds and the circuit closes.
        cluster.Services[0].Fail = null;
        time.Advance(TimeSpan.FromMilliseconds(1001));
        Assert.Equal("s0:stock:1", await orders.StockAsync(1).WaitAsync(NoHang));
        Assert.Equal(RpcCircuitState.Closed, client.GetCircuitState("orders/Stock", endpoint));
        Assert.Equal("s0:stock:2", await orders.StockAsync(2).WaitAsync(NoHang));
    }

    [Fact]
    public async Task CircuitBreaker_SteersCallsAwayFromAFailingEndpoint()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        cluster.Services[0].Fail = Unavailable;
        await using RpcClient client = cluster.Resilient();
        IOrders orders = client.CreateProxy<IOrders>();
        for (int i = 0; i < 40; i++)
        {
            try
            {
                await orders.StockAsync(i).WaitAsync(NoHang);
            }
            catch (RpcException)
            {
            }
        }

        // Round-robin alone would send s0 twenty calls; its circuit opened after a handful.
        Assert.InRange(cluster.Services[0].RunsOf("Stock"), 4, 8);
        Assert.Equal(RpcCircuitState.Open, client.GetCircuitState("orders/Stock", client.Endpoints.Single(e => e.Endpoint == cluster.Servers[0].Endpoints[0])));
    }

    [Fact]
    public async Task RetryBudget_CapsAttempts_WhenEveryServerFails()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        cluster.FailAll(Unavailable);

        await using RpcClient client = cluster.Resilient(o =>
        {
            o.Resilience.RetryBudget.Ratio = 0.2;
            o.Resilience.RetryBudget.MinRetriesPerSecond = 0;
        });
        IOrders orders = client.CreateProxy<IOrders>();
        for (int i = 0; i < 100; i++)
        {
            await Assert.ThrowsAsync<RpcException>(() => orders.GetAsync(i).WaitAsync(NoHang));
        }

        // Unbounded, 100 calls × 3 attempts = 300 runs; the budget allows 20% extra.
        Assert.InRange(cluster.Runs("Get"), 100, 121);
    }

    [Fact]
    public async Task ServerPushback_DoNotRetry_StopsRetries()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        foreach (FaultyOrders o in cluster.Services)
        {
            o.Fail = () => new RpcException(RpcStatusCode.Unavailable, "overloaded") { DoNotRetry = true };
        }

        await using RpcClient client = cluster.Resilient();
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IOrders>().GetAsync(1).WaitAsync(NoHang));
        Assert.True(error.DoNotRetry);
        Assert.Equal(1, cluster.Runs("Get"));
    }

    [Fact]
    public async Task ServerPushback_RetryAfter_DelaysTheRetry()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(1);
        int calls = 0;
        cluster.Services[0].Fail = () => Interlocked.Increment(ref calls) == 1
            ? new RpcException(RpcStatusCode.Unavailable, "busy") { RetryAfter = TimeSpan.FromMilliseconds(300) }
            : null!;
        await using RpcClient client = cluster.Resilient();
        var watch = Stopwatch.StartNew();
        Assert.Equal("s0:1", await client.CreateProxy<IOrders>().GetAsync(1).WaitAsync(NoHang));
        Assert.True(watch.ElapsedMilliseconds >= 200, $"retried after {watch.ElapsedMilliseconds} ms");
        Assert.Equal(2, cluster.Runs("Get"));
    }

    [Fact]
    public async Task RetriedRequest_CarriesTheRetryMarker()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        int calls = 0;
        cluster.Services[0].Fail = () => Interlocked.Increment(ref calls) == 1 ? Unavailable() : null!;
        cluster.Services[1].Fail = () => Interlocked.Increment(ref calls) == 1 ? Unavailable() : null!;
        await using RpcClient client = cluster.Resilient();
        IOrders orders = client.CreateProxy<IOrders>();
        Assert.True(await orders.WasRetryAsync().WaitAsync(NoHang)); // first attempt failed: the answer came from a retry
        Assert.False(await orders.WasRetryAsync().WaitAsync(NoHang)); // first attempt succeeded
    }

    [Fact]
    public async Task Broadcast_CallsEveryEndpoint_AndReportsEveryFailure()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        await using RpcClient client = cluster.Resilient();
        IOrders orders = client.CreateProxy<IOrders>();

        await orders.InvalidateAsync("k").WaitAsync(NoHang);
        Assert.All(cluster.Services, o => Assert.Equal(1, o.RunsOf("Invalidate")));

        cluster.Services[1].Fail = () => new RpcException(RpcStatusCode.FailedPrecondition, "no cache");
        RpcBroadcastException error = await Assert.ThrowsAsync<RpcBroadcastException>(() => orders.InvalidateAsync("k").WaitAsync(NoHang));
        RpcException only = Assert.Single(error.Errors);
        Assert.Equal(RpcStatusCode.FailedPrecondition, only.StatusCode);
        Assert.Contains("1 of 3", error.Message);
        Assert.All(cluster.Services, o => Assert.Equal(2, o.RunsOf("Invalidate")));
    }

    [Fact]
    public async Task GracefulShutdown_OfOneOfThreeServers_Under64Callers_LosesNoCall()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        await using RpcClient client = cluster.Resilient();
        IOrders orders = client.CreateProxy<IOrders>();
        int completed = 0;
        using var stop = new CancellationTokenSource();
        Task[] callers = Enumerable.Range(0, 64).Select(c => Task.Run(async () =>
        {
            int i = 0;
            while (!stop.IsCancellationRequested)
            {
                // Not idempotent: only a request the stopping server refused unprocessed may go elsewhere.
                await orders.PlaceAsync((c * 100_000) + i++);
                Interlocked.Increment(ref completed);
            }
        })).ToArray();

        await Wait.UntilAsync(() => Volatile.Read(ref completed) >= 200, "200 calls before the stop");
        await cluster.Servers[0].StopAsync().WaitAsync(NoHang);
        int atStop = Volatile.Read(ref completed);
        await Wait.UntilAsync(() => Volatile.Read(ref completed) >= atStop + 200, "200 calls after the stop");
        stop.Cancel();
        await Task.WhenAll(callers).WaitAsync(NoHang); // any lost call would have thrown here

        Assert.True(completed > 64);
        Assert.Equal(completed, cluster.Runs("Place")); // every completed call ran exactly once
    }

    [Fact]
    public async Task Options_OverrideTheAttributes_PerMethod()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        cluster.FailAll(Unavailable);

        await using RpcClient client = cluster.Resilient(o => o.Resilience.Policies["orders/Get"] = new RpcPolicyOverride { Retry = new RpcRetryPolicy { MaxAttempts = 1 } });
        await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IOrders>().GetAsync(1).WaitAsync(NoHang));
        Assert.Equal(1, cluster.Runs("Get"));

        await using RpcClient retrying = cluster.Resilient(o => o.Resilience.Policies["orders/Place"] = new RpcPolicyOverride { Idempotent = true });
        await Assert.ThrowsAsync<RpcException>(() => retrying.CreateProxy<IOrders>().PlaceAsync(1).WaitAsync(NoHang));
        Assert.Equal(3, cluster.Runs("Place"));
    }

    [Fact]
    public async Task ConnectionDroppedBeforeTheReply_IdempotentCallGoesElsewhere_OtherCallFails_AndRanOnce()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        var held = new TaskCompletionSource(); // never released: the servers are killed while their handlers hold the calls
        cluster.Services[0].Gate = () => held.Task;
        cluster.Services[1].Gate = () => held.Task;
        await using RpcClient client = cluster.Resilient(o => o.Balancing.Strategies["orders"] = LoadBalanceStrategy.RoundRobin);
        IOrders orders = client.CreateProxy<IOrders>();

        // Round-robin: the first call goes to s0, the second to s1; both handlers hold them.
        int before = cluster.Runs("Get");
        Task<string> get = orders.GetAsync(1);
        await Wait.UntilAsync(() => cluster.Runs("Get") > before);
        Task<string> place = await WhenHeldAsync(cluster, () => orders.PlaceAsync(2));
        Assert.Equal(1, cluster.Services[0].RunsOf("Get"));
        Assert.Equal(1, cluster.Services[1].RunsOf("Place"));
        await cluster.Servers[0].DisposeAsync(); // drops the connections with the calls in flight
        await cluster.Servers[1].DisposeAsync();

        Assert.Equal("s2:1", await get.WaitAsync(NoHang)); // idempotent: retried on the server still up
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => place.WaitAsync(NoHang));
        Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
        Assert.False(error.NotProcessed);
        Assert.Equal(1, cluster.Runs("Place")); // it reached s0's handler, so it was not sent again
    }

    /// <summary>Starts a call and returns once some server's handler holds it (counted a run).</summary>
    private static async Task<Task<string>> WhenHeldAsync(ServerCluster<FaultyOrders> cluster, Func<Task<string>> call)
    {
        int before = cluster.Runs("Place");
        Task<string> task = call();
        await Wait.UntilAsync(() => cluster.Runs("Place") > before || task.IsCompleted);
        return task;
    }

    [Fact]
    public async Task CallerCancellation_StopsRetriesAndHedges_AndCancelsTheHandlers()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        foreach (FaultyOrders o in cluster.Services)
        {
            o.QuoteDelayMs = 10_000;
        }

        await using RpcClient client = cluster.Resilient();
        IOrders orders = client.CreateProxy<IOrders>();
        // The hedges go out at 20 and 40 ms: cancel once all three attempts run (the handlers would answer after 10 s).
        using var cancel = new CancellationTokenSource();
        Task<string> call = orders.QuoteAsync(1, cancel.Token);
        await Wait.UntilAsync(() => cluster.Runs("Quote") == 3);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(NoHang));

        // No fourth attempt after the cancellation, and every handler saw the cancel frame.
        Assert.Equal(3, cluster.Runs("Quote"));
        await Wait.UntilAsync(() => cluster.Services.Sum(o => o.Cancelled) == 3);
    }

    [Fact]
    public async Task AdaptiveHedging_WaitsForTheObservedP95_InsteadOfTheFixedDelay()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        cluster.Services[0].QuoteDelayMs = 30;
        cluster.Services[1].QuoteDelayMs = 30;
        await using RpcClient client = cluster.Resilient(o =>
            o.Resilience.Policies["orders/Quote"] = new RpcPolicyOverride { Hedging = new RpcHedgingPolicy { MaxAttempts = 2, DelayMs = 1, AdaptiveDelay = true } });
        IOrders orders = client.CreateProxy<IOrders>();

        // Before 16 calls the fixed 1 ms delay applies: nearly every call is hedged.
        for (int i = 0; i < 16; i++)
        {
            await orders.QuoteAsync(i).WaitAsync(NoHang);
        }

        int hedgedEarly = cluster.Runs("Quote") - 16;
        Assert.True(hedgedEarly >= 12, $"{hedgedEarly} of the first 16 calls were hedged");

        // Then the delay is the p95 of ~30 ms calls, which a ~30 ms call seldom exceeds.
        int before = cluster.Runs("Quote");
        for (int i = 0; i < 30; i++)
        {
            await orders.QuoteAsync(i).WaitAsync(NoHang);
        }

        int hedgedLater = cluster.Runs("Quote") - before - 30;
        Assert.True(hedgedLater <= 15, $"{hedgedLater} of 30 later calls were hedged");
    }

    [Fact]
    public async Task AdditionalResilience_RunsTheUsersPipelineAroundEveryCall_RetriesIncluded()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        int calls = 0;
        cluster.Services[0].Fail = () => Interlocked.Increment(ref calls) == 1 ? Unavailable() : null!;
        cluster.Services[1].Fail = () => Interlocked.Increment(ref calls) == 1 ? Unavailable() : null!;
        int executions = 0;
        await using RpcClient client = cluster.Resilient(o => o.Resilience.AdditionalResilience = method => method.Name == "Get"
            ? new Polly.ResiliencePipelineBuilder().AddStrategy(_ => new CountingStrategy(() => Interlocked.Increment(ref executions)), new CountingOptions()).Build()
            : null);
        IOrders orders = client.CreateProxy<IOrders>();
        Assert.StartsWith("s", await orders.GetAsync(1).WaitAsync(NoHang));
        await orders.PlaceAsync(1).WaitAsync(NoHang);
        Assert.Equal(1, executions); // once around the Get call and its retry; not around Place
        Assert.Equal(2, cluster.Runs("Get"));
    }

    private sealed class CountingOptions : Polly.ResilienceStrategyOptions
    {
    }

    private sealed class CountingStrategy(Action onExecute) : Polly.ResilienceStrategy
    {
        protected override ValueTask<Polly.Outcome<TResult>> ExecuteCore<TResult, TState>(
            Func<Polly.ResilienceContext, TState, ValueTask<Polly.Outcome<TResult>>> callback, Polly.ResilienceContext context, TState state)
        {
            onExecute();
            return callback(context, state);
        }
    }

    [Fact]
    public async Task CallsMadeWhileServingARetry_AreNotRetriedAgain()
    {
        // orders (2 servers) → stock (1 server, always Unavailable, [Retry(MaxAttempts = 3)]).
        var stock = new FailingStock();
        await using var stockServer = new RpcServer();
        stockServer.Map<IStock>(stock);
        await stockServer.StartAsync();
        await using var downstream = new RpcClient(new RpcClientOptions { Endpoints = { stockServer.Endpoints[0] } });

        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        foreach (FaultyOrders o in cluster.Services)
        {
            o.Downstream = downstream.CreateProxy<IStock>();
        }

        await using RpcClient client = cluster.Resilient();
        await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IOrders>().RelayAsync().WaitAsync(NoHang));

        // Three attempts of Relay: the first one's downstream call retries (3 runs); the two retried ones call once each.
        Assert.Equal(3, cluster.Runs("Relay"));
        Assert.Equal(3 + 1 + 1, stock.Runs);
    }

    [Fact]
    public async Task Metrics_CountRetriesHedgesDeniedRetriesAndOpenedCircuits()
    {
        using var retries = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.client.retries");
        using var denied = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.client.retries_denied");
        using var opened = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.client.circuits_opened");
        using var hedges = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.client.hedges");
        static long Count(MetricCollector<long> counter, string method) =>
            counter.GetMeasurementSnapshot().Where(m => m.Tags.TryGetValue("rpc.service", out object? service) && m.Tags.TryGetValue("rpc.method", out object? name) &&
                                                        method == $"{service}/{name}" && "rpcgen".Equals(m.Tags["rpc.system"])).Sum(m => m.Value);

        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        cluster.FailAll(Unavailable);
        await using RpcClient client = cluster.Resilient(o =>
        {
            o.Resilience.RetryBudget.Ratio = 0;
            o.Resilience.RetryBudget.MinRetriesPerSecond = 0.3; // three retries in the 10 s window
        });
        IOrders orders = client.CreateProxy<IOrders>();
        await Assert.ThrowsAsync<RpcException>(() => orders.GetAsync(1).WaitAsync(NoHang)); // 2 retries
        await Assert.ThrowsAsync<RpcException>(() => orders.GetAsync(2).WaitAsync(NoHang)); // 1 retry, then denied
        for (int i = 0; i < 15; i++)
        {
            await Assert.ThrowsAsync<RpcException>(() => orders.StockAsync(i).WaitAsync(NoHang));
        }

        Assert.Equal(3, Count(retries, "orders/Get"));
        Assert.Equal(1, Count(denied, "orders/Get"));
        Assert.Equal(3, Count(opened, "orders/Stock")); // four failures each

        // Hedges: every server answers in 300 ms, so a call sends both of its hedges (20 ms apart). A first call warms
        // the hedging path up (on a cold process, compiling it can take longer than the servers).
        cluster.FailAll(null!);
        foreach (FaultyOrders o in cluster.Services)
        {
            o.QuoteDelayMs = 300;
        }

        await using RpcClient hedging = cluster.Resilient();
        IOrders hedged = hedging.CreateProxy<IOrders>();
        await hedged.QuoteAsync(0).WaitAsync(NoHang);
        long before = Count(hedges, "orders/Quote");
        await hedged.QuoteAsync(1).WaitAsync(NoHang);
        Assert.Equal(2, Count(hedges, "orders/Quote") - before);
    }

}

/// <summary>What the resilience tests ask of a cluster of <see cref="FaultyOrders"/>.</summary>
internal static class FaultyOrdersCluster
{
    /// <summary>A client over the cluster with ejection off: these tests watch the policies, not outlier detection.</summary>
    public static RpcClient Resilient(this ServerCluster<FaultyOrders> cluster, Action<RpcClientOptions>? configure = null) =>
        cluster.CreateClient(options =>
        {
            options.Balancing.OutlierDetection.Enabled = false;
            configure?.Invoke(options);
        });

    public static int Runs(this ServerCluster<FaultyOrders> cluster, string method) => cluster.Services.Sum(o => o.RunsOf(method));

    public static void FailAll(this ServerCluster<FaultyOrders> cluster, Func<RpcException> fail)
    {
        foreach (FaultyOrders orders in cluster.Services)
        {
            orders.Fail = fail;
        }
    }
}

using Polly;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Client;

/// <summary>
/// The resilience layer on its own (<see cref="ResilientCalls"/> given a per-call context): a failure a retry can fix
/// goes to another server and counts as the pipeline's first outcome, one it cannot is returned at once, a request that
/// is not safe to repeat runs once, and a broadcast reports every server's error.
/// </summary>
public sealed class ResilientCallsTests
{
    private const int Get = 0, Place = 1, Invalidate = 4; // IOrders: [Idempotent] GetAsync, PlaceAsync, [Broadcast] InvalidateAsync

    private static Task<ServerCluster<FaultyOrders>> StartAsync(int count) =>
        ServerCluster.StartAsync(count, i => new FaultyOrders($"s{i}"), static (server, orders) => server.Map<IOrders>(orders));

    private static async Task<(AttemptResult Result, ClientCall Call)> SendAsync(RpcClient client, int method, string arguments)
    {
        RpcClientMethod clientMethod = client.Invoker.GetMethod(RpcServiceRegistry.GetDescriptor<IOrders>()!.Methods[method]);
        // Owned by "interceptors" (there are none), so the test may read the context after the call.
        ClientCall call = ClientCall.Rent(client, clientMethod, CallDeadline.Begin(clientMethod, client.TimeProvider), 0, intercepted: true, default);
        var calls = new ResilientCalls(client, new CallAttempts(client));
        AttemptResult result = await calls.SendAsync(call, new JsonArguments(arguments)).AsTask().WaitAsync(NoHang);
        return (result, call);
    }

    private static RpcClient Client(ServerCluster<FaultyOrders> cluster, Action<RpcClientOptions>? configure = null) =>
        cluster.CreateClient(o =>
        {
            o.Balancing.OutlierDetection.Enabled = false;
            configure?.Invoke(o);
        });

    [Fact]
    public async Task AnIdempotentCall_ThatFailsRetryably_IsRetriedOnAnotherServer()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        cluster.Services[0].Fail = () => new RpcException(RpcStatusCode.Unavailable, "down");
        await using RpcClient client = Client(cluster);
        for (int i = 0; i < 10; i++)
        {
            (AttemptResult result, ClientCall call) = await SendAsync(client, Get, $"[{i}]");
            using (result)
            {
                Assert.Null(result.Error);
                Assert.Equal(cluster.Servers[1].Endpoints[0].ToString(), result.Endpoint);
                Assert.InRange(call.Attempts, 1, 2); // a second attempt only after the broken server was tried
            }
        }

        Assert.True(cluster.Services[0].RunsOf("Get") > 0, "the balancer never tried the broken server");
    }

    [Fact]
    public async Task AFailureNoRetryCanFix_IsReturnedAfterOneAttempt()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        foreach (FaultyOrders orders in cluster.Services)
        {
            orders.Fail = () => new RpcException(RpcStatusCode.PermissionDenied, "no");
        }

        await using RpcClient client = Client(cluster);
        (AttemptResult result, ClientCall call) = await SendAsync(client, Get, "[1]");
        RpcException error = Assert.IsType<RpcException>(result.Error);
        Assert.Equal(RpcStatusCode.PermissionDenied, error.StatusCode);
        Assert.Equal(1, call.Attempts);
        Assert.Equal(1, cluster.Services.Sum(s => s.RunsOf("Get")));
    }

    [Fact]
    public async Task ACallNotSafeToRepeat_ThatReachedAServer_RunsOnce()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        foreach (FaultyOrders orders in cluster.Services)
        {
            orders.Fail = () => new RpcException(RpcStatusCode.Unavailable, "failed after it ran");
        }

        await using RpcClient client = Client(cluster);
        (AttemptResult result, ClientCall call) = await SendAsync(client, Place, "[1]");
        Assert.Equal(RpcStatusCode.Unavailable, Assert.IsType<RpcException>(result.Error).StatusCode);
        Assert.Equal(1, call.Attempts); // PlaceAsync is neither idempotent nor deduplicated: never sent twice
        Assert.Equal(1, cluster.Services.Sum(s => s.RunsOf("Place")));
    }

    [Fact]
    public async Task ABroadcast_ReachesEveryServer_AndReportsEachOnesError()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(3);
        await using RpcClient client = Client(cluster);
        (AttemptResult ok, _) = await SendAsync(client, Invalidate, "[\"k\"]");
        using (ok)
        {
            Assert.Null(ok.Error);
        }

        Assert.All(cluster.Services, s => Assert.Equal(1, s.RunsOf("Invalidate")));

        cluster.Services[1].Fail = () => new RpcException(RpcStatusCode.Internal, "s1 cannot");
        cluster.Services[2].Fail = () => new RpcException(RpcStatusCode.Unavailable, "s2 cannot");
        (AttemptResult failed, _) = await SendAsync(client, Invalidate, "[\"k\"]");
        RpcBroadcastException error = Assert.IsType<RpcBroadcastException>(failed.Error);
        Assert.Equal(2, error.Errors.Count);
        Assert.Contains(error.Errors, e => e.StatusCode == RpcStatusCode.Internal);
        Assert.Contains(error.Errors, e => e.StatusCode == RpcStatusCode.Unavailable);
        Assert.All(cluster.Services, s => Assert.Equal(2, s.RunsOf("Invalidate")));
    }

    [Fact]
    public async Task TheUsersPipeline_MayRunTheCallAgain_AndCancelIt_WithItsOwnToken()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        int failures = 4; // both servers' first two runs: the call's own retries (3 attempts) cannot get past them
        foreach (FaultyOrders orders in cluster.Services)
        {
            orders.Fail = () => Interlocked.Decrement(ref failures) >= 0 ? new RpcException(RpcStatusCode.Unavailable, "not yet") : null!;
        }

        var release = new TaskCompletionSource();
        await using RpcClient client = Client(cluster, o => o.Resilience.AdditionalResilience = method => method.Name switch
        {
            // The user's own retry runs the whole call again; each run starts afresh (new context, nothing tried).
            "Get" => new Polly.ResiliencePipelineBuilder()
                .AddRetry(new Polly.Retry.RetryStrategyOptions { MaxRetryAttempts = 2, Delay = TimeSpan.Zero })
                .Build(),
            // The user's own timeout cancels the attempt through the token it gives the call.
            "Place" => new Polly.ResiliencePipelineBuilder().AddTimeout(TimeSpan.FromMilliseconds(200)).Build(),
            _ => null,
        });
        IOrders proxy = client.CreateProxy<IOrders>();
        Assert.StartsWith("s", await proxy.GetAsync(1).WaitAsync(NoHang));
        Assert.Equal(5, cluster.Services.Sum(s => s.RunsOf("Get"))); // 3 attempts, then 2 of the user's second run

        foreach (FaultyOrders orders in cluster.Services)
        {
            orders.Fail = null;
            orders.Gate = () => release.Task; // Place never answers on its own (its [Timeout] is 5 s)
        }

        await Assert.ThrowsAsync<Polly.Timeout.TimeoutRejectedException>(() => proxy.PlaceAsync(1).WaitAsync(NoHang));
        release.SetResult();
    }

    /// <summary>Runs every call twice: the caller gets the second run's outcome.</summary>
    private sealed class RunTwiceInterceptor : RpcClientInterceptor
    {
        public override async ValueTask InterceptCallAsync(RpcOutgoingCall call, Func<RpcOutgoingCall, ValueTask> next)
        {
            await next(call);
            await next(call);
        }
    }

    [Fact]
    public async Task AnInterceptorThatRunsTheCallAgain_StartsACallOfItsOwn()
    {
        await using ServerCluster<FaultyOrders> cluster = await StartAsync(2);
        await using RpcClient client = Client(cluster, o => o.Interceptors.Add(new RunTwiceInterceptor()));
        // The second run is a call of its own: its first attempt is not marked as a retry of the first run's.
        Assert.False(await client.CreateProxy<IOrders>().WasRetryAsync().WaitAsync(NoHang));
    }
}

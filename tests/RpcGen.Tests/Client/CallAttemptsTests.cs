using System.Net;
using System.Net.Sockets;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Client;

/// <summary>
/// One attempt on its own (<see cref="CallAttempts"/> with a per-call context, no proxy, no policies around it): the
/// transparent retry of a request that never reached a handler, a pinned attempt that is not, credentials kept off
/// plain TCP, an attempt's own timeout, and a deduplicated call that sticks to the server that has its id.
/// </summary>
public sealed class CallAttemptsTests
{
    private static RpcEndpoint ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens there now: a connect is refused
        return new RpcEndpoint("127.0.0.1", port);
    }

    private static ClientCall Call<TService>(RpcClient client, int method)
        where TService : class
    {
        RpcClientMethod clientMethod = client.Invoker.GetMethod(RpcServiceRegistry.GetDescriptor<TService>()!.Methods[method]);
        // Owned by "interceptors" (there are none): the attempt does not return it to the pool, so the test may read it after.
        return ClientCall.Rent(client, clientMethod, CallDeadline.Begin(clientMethod, client.TimeProvider), 0, intercepted: true, default);
    }

    private const int WhoAmI = 4; // ICalculator.WhoAmIAsync: the answering server's name

    [Fact]
    public async Task ARequestRefusedByAConnection_GoesToAnotherEndpoint_WithinTheSameAttempt()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        RpcEndpoint dead = ClosedPort();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { dead, cluster.Servers[0].Endpoints[0] } });
        var attempts = new CallAttempts(client);
        int sawDead = 0;
        for (int i = 0; i < 20; i++)
        {
            ClientCall call = Call<ICalculator>(client, WhoAmI);
            using AttemptResult result = await attempts.RunAsync(call, new JsonArguments("[]"), 0, default).AsTask().WaitAsync(NoHang);
            Assert.Null(result.Error);
            Assert.Equal(cluster.Servers[0].Endpoints[0].ToString(), result.Endpoint);
            RpcEndpointState deadState = client.Endpoints.Single(e => e.Endpoint.Equals(dead));
            sawDead += call.Tried.Contains(deadState.Id) ? 1 : 0;
        }

        Assert.True(sawDead > 0, "the balancer never picked the endpoint that refuses connections");
    }

    [Fact]
    public async Task APinnedAttempt_IsNotSentElsewhere()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        RpcEndpoint dead = ClosedPort();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { dead, cluster.Servers[0].Endpoints[0] } });
        RpcEndpointState deadState = client.Endpoints.Single(e => e.Endpoint.Equals(dead));
        ClientCall call = Call<ICalculator>(client, WhoAmI);
        using AttemptResult result = await new CallAttempts(client).RunAsync(call, new JsonArguments("[]"), 0, default, deadState)
            .AsTask().WaitAsync(NoHang);
        RpcException error = Assert.IsType<RpcException>(result.Error);
        Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
        Assert.True(error.NotProcessed);
        Assert.Equal(0, cluster.Services[0].Calls);
    }

    [Fact]
    public async Task Credentials_AreNotSentOverPlainTcp_AndTheServerIsNeverAsked()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        int asked = 0;
        await using var client = new RpcClient(new RpcClientOptions
        {
            Endpoints = { cluster.Servers[0].Endpoints[0] },
            Credentials = RpcCallCredentials.BearerToken(_ =>
            {
                Interlocked.Increment(ref asked);
                return new ValueTask<string>("secret");
            }),
        });
        using AttemptResult result = await new CallAttempts(client).RunAsync(Call<ICalculator>(client, WhoAmI), new JsonArguments("[]"), 0, default)
            .AsTask().WaitAsync(NoHang);
        RpcException error = Assert.IsType<RpcException>(result.Error);
        Assert.Equal(RpcStatusCode.Unauthenticated, error.StatusCode);
        Assert.Contains("over plain TCP", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, asked); // the token was never even fetched
        Assert.Equal(0, cluster.Services[0].Calls);
    }

    [Fact]
    public async Task AnAttemptPastItsOwnTimeout_SaysSo_AndADeduplicatedCallSticksToItsServer()
    {
        await using ServerCluster<FaultyOrders> cluster =
            await ServerCluster.StartAsync(2, i => new FaultyOrders($"s{i}"), static (server, orders) => server.Map<IOrders>(orders));
        await using RpcClient client = cluster.CreateClient(o => o.Balancing.OutlierDetection.Enabled = false);
        foreach (RpcEndpointState endpoint in client.Endpoints)
        {
            await client.PingAsync(endpoint.Endpoint).WaitAsync(NoHang); // connected first: the 60 ms go to the handler, not to connecting
        }

        ClientCall call = Call<IOrders>(client, 2); // ChargeAsync: [Deduplicate], PerAttemptTimeoutMs = 60, a 150 ms handler
        using AttemptResult result = await new CallAttempts(client).RunAsync(call, new JsonArguments("[7]"), 0, default).AsTask().WaitAsync(NoHang);

        RpcException error = Assert.IsType<RpcException>(result.Error);
        Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
        Assert.True(error.AttemptTimedOut, error.ToString());
        Assert.Contains("passed its own timeout of 60 ms (PerAttemptTimeoutMs)", error.Message, StringComparison.Ordinal);

        // The request reached a server: only that server's window knows the call id, so its retries go back there.
        Assert.NotNull(call.Sticky);
        Assert.Equal(error.Endpoint, call.Sticky!.Endpoint.ToString());
        await Wait.UntilAsync(() => cluster.Services.Sum(s => s.RunsOf("Charge")) == 1, "the handler run the request reached");
        Assert.Equal(1, cluster.Services.Single(s => s.RunsOf("Charge") == 1).RunsOf("Charge"));
    }

    private static Task<AttemptResult> RunAsync(CallAttempts attempts, RpcClient client) =>
        attempts.RunAsync(Call<ICalculator>(client, WhoAmI), new JsonArguments("[]"), 0, default).AsTask().WaitAsync(NoHang);

    /// <summary>Records the authorization header of each call the server receives.</summary>
    private sealed class HeaderRecorder : RpcServerInterceptor
    {
        public List<string?> Authorizations { get; } = new();

        public override ValueTask InterceptAsync(RpcIncomingCall call, Func<RpcIncomingCall, ValueTask> next)
        {
            lock (Authorizations)
            {
                Authorizations.Add(call.Context.RequestHeaders.GetValue("authorization"));
            }

            return next(call);
        }
    }

    [Fact]
    public async Task Credentials_AllowedOverPlainTcp_AreFetchedPerAttempt_AndSent_AndAFailureToGetThemIsUnauthenticated()
    {
        var recorder = new HeaderRecorder();
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1, o => o.Interceptors.Add(recorder));
        int asked = 0;
        bool fail = false;
        await using var client = new RpcClient(new RpcClientOptions
        {
            Endpoints = { cluster.Servers[0].Endpoints[0] },
            AllowCredentialsOverPlainText = true,
            Credentials = RpcCallCredentials.BearerToken(_ =>
            {
                int n = Interlocked.Increment(ref asked);
                return Volatile.Read(ref fail)
                    ? throw new InvalidOperationException("the token service is down")
                    : new ValueTask<string>("token-" + n);
            }),
        });
        var attempts = new CallAttempts(client);
        for (int i = 0; i < 2; i++)
        {
            using AttemptResult result = await RunAsync(attempts, client);
            Assert.Null(result.Error);
        }

        Assert.Equal(new[] { "Bearer token-1", "Bearer token-2" }, recorder.Authorizations);

        Volatile.Write(ref fail, true);
        using AttemptResult failed = await RunAsync(attempts, client);
        RpcException error = Assert.IsType<RpcException>(failed.Error);
        Assert.Equal(RpcStatusCode.Unauthenticated, error.StatusCode);
        Assert.Equal("The credentials of 'calc/WhoAmI' could not be obtained: the token service is down", error.Message);
        Assert.Equal(2, cluster.Services[0].Calls); // the third attempt never left
        Assert.Equal(0, client.Endpoints[0].InFlight);
    }

    [Fact]
    public async Task EveryAttempt_LeavesNothingInFlight_WhetherItSucceeds_FailsOnTheServer_OrCannotConnect()
    {
        await using ServerCluster<FaultyOrders> cluster =
            await ServerCluster.StartAsync(1, i => new FaultyOrders($"s{i}"), static (server, orders) => server.Map<IOrders>(orders));
        RpcEndpoint dead = ClosedPort();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { dead, cluster.Servers[0].Endpoints[0] } });
        var attempts = new CallAttempts(client);
        for (int i = 0; i < 6; i++)
        {
            using AttemptResult result = await RunAsync(attempts, client);
            Assert.All(client.Endpoints, e => Assert.Equal(0, e.InFlight));
        }

        Assert.Equal(0, client.TotalInFlight);
    }

    [Fact]
    public async Task AServerThatAcceptsButNeverAnswersTheHandshake_EndsTheAttemptAtItsDeadline_NotProcessed()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start(); // accepts (the kernel completes the TCP handshake) and never says a word
        var endpoint = new RpcEndpoint("127.0.0.1", ((IPEndPoint)silent.LocalEndpoint).Port);
        var options = new RpcClientOptions { Endpoints = { endpoint } };
        options.Resilience.Policies["calc"] = new RpcPolicyOverride { TimeoutMs = 300 }; // ICalculator's own [Timeout] is 5 s, ConnectTimeout's too
        await using var client = new RpcClient(options);
        using AttemptResult result = await new CallAttempts(client).RunAsync(Call<ICalculator>(client, WhoAmI), new JsonArguments("[]"), 0, default)
            .AsTask().WaitAsync(NoHang);
        RpcException error = Assert.IsType<RpcException>(result.Error);
        Assert.True(error.StatusCode == RpcStatusCode.DeadlineExceeded, error.ToString());
        Assert.StartsWith($"The deadline of 'calc/WhoAmI' passed while connecting to {endpoint}", error.Message, StringComparison.Ordinal);
        Assert.True(error.NotProcessed);
        Assert.Equal(0, client.Endpoints[0].InFlight);
    }
}

using System.Diagnostics;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Hostile;

/// <summary>A handler that does not look at its cancellation token: it finishes when it finishes.</summary>
[RpcService("stubborn")]
public interface IStubborn
{
    [Timeout(300)]
    Task<int> SleepAsync(int milliseconds);

    [Timeout(300)]
    Task<int> NeverAsync();

    /// <summary>No [Timeout]: only RpcClientOptions.DefaultTimeout bounds it.</summary>
    Task<int> UnboundedAsync();
}

public sealed class Stubborn : IStubborn
{
    private readonly TaskCompletionSource<int> _never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<int> SleepAsync(int milliseconds)
    {
        await Task.Delay(milliseconds); // no token: deliberately deaf to cancellation
        return milliseconds;
    }

    public Task<int> NeverAsync() => _never.Task;

    public Task<int> UnboundedAsync() => _never.Task;
}

/// <summary>
/// Deadlines are the client's promise, whatever the peer does: a server that swallows requests, a peer that never
/// finishes the handshake, handlers deaf to cancellation, and timers that fire early.
/// </summary>
public sealed class DeadlineAgainstHostilePeerTests
{
    private static async Task<RpcException> ExpectDeadlineAsync(Task call)
    {
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(NoHang));
        Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
        return error;
    }

    [Fact]
    public async Task SilentPeer_EverySequentialCallEndsWithDeadlineExceeded()
    {
        await using var peer = new HostilePeer(HostilePeer.Mode.NeverAnswers);
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { peer.Endpoint } });
        IStubborn proxy = client.CreateProxy<IStubborn>();
        for (int i = 0; i < 10; i++)
        {
            var watch = Stopwatch.StartNew();
            await ExpectDeadlineAsync(proxy.NeverAsync()); // [Timeout(300)]
            Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(295), $"call {i} ended after {watch.Elapsed.TotalMilliseconds:0} ms, before its deadline");
        }

        Assert.True(peer.BytesRead > 0, "the requests reached the peer");
    }

    [Fact]
    public async Task SilentPeer_TimersThatFireEarly_AreArmedAgain_NotDropped()
    {
        var time = new EarlyTimerTimeProvider(fraction: 0.3);
        await using var peer = new HostilePeer(HostilePeer.Mode.NeverAnswers);
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { peer.Endpoint }, TimeProvider = time });
        IStubborn proxy = client.CreateProxy<IStubborn>();
        for (int i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            await ExpectDeadlineAsync(proxy.NeverAsync());
            Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(295), $"call {i} ended after {watch.Elapsed.TotalMilliseconds:0} ms, before its deadline");
        }

        // Concurrent calls share nothing but the connection: every one of them still ends.
        Task[] calls = Enumerable.Range(0, 50).Select(_ => (Task)proxy.NeverAsync()).ToArray();
        foreach (Task call in calls)
        {
            await ExpectDeadlineAsync(call);
        }
    }

    [Fact]
    public async Task HandlersDeafToCancellation_NeverReturnAfterTheDeadline()
    {
        await using var server = new RpcServer(new RpcServerOptions());
        server.Map<IStubborn>(new Stubborn());
        await server.StartAsync();

        // Early timers on the client make a dropped deadline certain, not a matter of timer rounding.
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] }, TimeProvider = new EarlyTimerTimeProvider(0.5) });
        IStubborn proxy = client.CreateProxy<IStubborn>();
        Task<int>[] slow = Enumerable.Range(0, 20).Select(_ => proxy.SleepAsync(600)).ToArray(); // [Timeout(300)], 600 ms handler
        Task<int>[] never = Enumerable.Range(0, 6).Select(_ => proxy.NeverAsync()).ToArray();
        foreach (Task<int> call in slow.Concat(never))
        {
            await ExpectDeadlineAsync(call);
        }

        await AssertStillWorksAsync(() => proxy.SleepAsync(0)); // the connection still works
    }

    /// <summary>
    /// A call succeeds within a few tries: on a loaded machine one 300 ms deadline may pass before the server gets to the
    /// call, which says nothing about whether the connection survived.
    /// </summary>
    private static async Task AssertStillWorksAsync(Func<Task<int>> call)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                Assert.Equal(0, await call().WaitAsync(NoHang));
                return;
            }
            catch (RpcException ex) when (ex.StatusCode == RpcStatusCode.DeadlineExceeded && attempt < 10)
            {
            }
        }
    }

    [Fact]
    public async Task PeerThatNeverHandshakes_CallEndsAtItsDeadline_NotAtConnectTimeout()
    {
        await using var peer = new HostilePeer(HostilePeer.Mode.NeverHandshakes);
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { peer.Endpoint }, Connection = { ConnectTimeout = TimeSpan.FromSeconds(60) } });
        IStubborn proxy = client.CreateProxy<IStubborn>();
        var watch = Stopwatch.StartNew();
        RpcException error = await ExpectDeadlineAsync(proxy.NeverAsync()); // [Timeout(300)]; connecting would take 60 s
        Assert.True(error.NotProcessed, "nothing was sent, so nothing ran");
        Assert.Contains("connecting", error.Message);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(295));

        // A second call waits on the same (still pending) connect, and also only for its own time.
        await ExpectDeadlineAsync(proxy.NeverAsync());
    }

    [Fact]
    public async Task MethodWithoutTimeout_IsBoundedByDefaultTimeout()
    {
        await using var peer = new HostilePeer(HostilePeer.Mode.NeverAnswers);
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { peer.Endpoint }, Resilience = { DefaultTimeout = TimeSpan.FromMilliseconds(250) } });
        await ExpectDeadlineAsync(client.CreateProxy<IStubborn>().UnboundedAsync());
    }

    [Fact]
    public async Task DefaultTimeout_InfiniteOrZero_LeavesTheCallWithoutDeadline_AndAnOverrideWins()
    {
        await using var server = new RpcServer(new RpcServerOptions());
        server.Map<IPlain>(new Plain());
        await server.StartAsync();

        var infinite = new RpcClientOptions { Endpoints = { server.InProcessEndpoint }, Resilience = { DefaultTimeout = Timeout.InfiniteTimeSpan } };
        await using (var client = new RpcClient(infinite))
        {
            Assert.Equal(0, client.GetResilience(RpcServiceRegistry.GetDescriptor<IStubborn>()!.Methods.Single(m => m.ClrName == "UnboundedAsync")).TimeoutMilliseconds);
        }

        var overridden = new RpcClientOptions { Endpoints = { server.InProcessEndpoint }, Resilience = { Policies = { ["stubborn/Unbounded"] = new RpcPolicyOverride { TimeoutMs = 0 } } } };
        await using (var client = new RpcClient(overridden))
        {
            RpcServiceDescriptor stubborn = RpcServiceRegistry.GetDescriptor<IStubborn>()!;
            Assert.Equal(0, client.GetResilience(stubborn.Methods.Single(m => m.ClrName == "UnboundedAsync")).TimeoutMilliseconds);
            Assert.Equal(300, client.GetResilience(stubborn.Methods.Single(m => m.ClrName == "NeverAsync")).TimeoutMilliseconds);
        }

        await using (var client = new RpcClient(new RpcClientOptions { Endpoints = { server.InProcessEndpoint } }))
        {
            Assert.Equal(30_000, client.GetResilience(RpcServiceRegistry.GetDescriptor<IStubborn>()!.Methods.Single(m => m.ClrName == "UnboundedAsync")).TimeoutMilliseconds);
        }

        // Zero, like Timeout.InfiniteTimeSpan, is no default deadline (what configuration writes as "0"); below zero is a mistake.
        await using (var client = new RpcClient(new RpcClientOptions { Endpoints = { server.InProcessEndpoint }, Resilience = { DefaultTimeout = TimeSpan.Zero } }))
        {
            Assert.Equal(0, client.GetResilience(RpcServiceRegistry.GetDescriptor<IStubborn>()!.Methods.Single(m => m.ClrName == "UnboundedAsync")).TimeoutMilliseconds);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => new RpcClient(new RpcClientOptions { Endpoints = { server.InProcessEndpoint }, Resilience = { DefaultTimeout = TimeSpan.FromSeconds(-5) } }));
    }
}

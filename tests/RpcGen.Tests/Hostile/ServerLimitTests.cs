using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Hostile;

[RpcService("gate")]
public interface IGate
{
    /// <summary>Waits until the gate opens; reports how many calls were inside at once.</summary>
    Task<string> EnterAsync(CancellationToken cancellationToken = default);

    /// <summary>The same as <see cref="EnterAsync"/>, under another name (so that policies can tell them apart).</summary>
    Task<string> HoldAsync(CancellationToken cancellationToken = default);
}

public sealed class Gate : IGate
{
    private readonly string _name;
    private int _inside;
    private int _maxInside;

    public Gate(string name, bool open = false)
    {
        _name = name;
        if (open)
        {
            Open.TrySetResult(true);
        }
    }

    public TaskCompletionSource<bool> Open { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int MaxInside => Volatile.Read(ref _maxInside);

    public int Inside => Volatile.Read(ref _inside);

    public Task<string> HoldAsync(CancellationToken cancellationToken = default) => EnterAsync(cancellationToken);

    public async Task<string> EnterAsync(CancellationToken cancellationToken = default)
    {
        int now = Interlocked.Increment(ref _inside);
        int seen;
        while (now > (seen = Volatile.Read(ref _maxInside)) && Interlocked.CompareExchange(ref _maxInside, now, seen) != seen)
        {
        }

        try
        {
            await Open.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            await Task.Delay(5, cancellationToken);
            return _name;
        }
        finally
        {
            Interlocked.Decrement(ref _inside);
        }
    }
}

/// <summary>
/// Limits that keep a server alive among hostile clients: idle and half-sent connections are closed, connections and
/// calls beyond their limits are refused (calls as not processed, so clients take them elsewhere), and each refusal is
/// counted.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class ServerLimitTests
{
    private static readonly byte[] s_clientPreface = { 0x52, 0x50, 0x43, 0x47, 1, 1, 0, 0 };

    private static async Task<RpcServer> StartAsync(RpcServerOptions options, object? gate = null)
    {
        var server = new RpcServer(options);
        server.Map<IGate>((IGate?)gate ?? new Gate("s"));
        await server.StartAsync();
        return server;
    }


    [Fact]
    public async Task Slowloris_ConnectionsThatSendThePrefaceAndNothingElse_AreClosedAfterIdleTimeout()
    {
        using var closed = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.server.connections_closed");
        await using RpcServer server = await StartAsync(new RpcServerOptions { Limits = { IdleTimeout = TimeSpan.FromMilliseconds(500) } }, new Gate("s", open: true));
        var loris = new List<RawConnection>();
        for (int i = 0; i < 1000; i++)
        {
            loris.Add(await RawConnection.ConnectAsync(server.Endpoints[0]));
        }

        // Meanwhile the server serves a real client.
        await using (var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } }))
        {
            Assert.Equal("s", await client.CreateProxy<IGate>().EnterAsync().WaitAsync(NoHang));
        }

        bool[] closedByServer = await Task.WhenAll(loris.Select(c => c.WaitForCloseAsync(NoHang)));
        Assert.All(closedByServer, Assert.True);
        await Wait.UntilAsync(() => server.ConnectionCount == 0, "the server forgot every closed connection");
        Assert.True(closed.GetMeasurementSnapshot().Where(m => Equals(m.Tags["rpcgen.reason"], "idle")).Sum(m => m.Value) >= 1000);
        foreach (RawConnection connection in loris)
        {
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task ConnectionsStalledMidFrame_AreClosedAfterFrameTimeout_EvenWithoutAnIdleTimeout()
    {
        using var closed = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.server.connections_closed");
        await using RpcServer server = await StartAsync(new RpcServerOptions { Limits = { IdleTimeout = Timeout.InfiniteTimeSpan, FrameTimeout = TimeSpan.FromMilliseconds(400) } });
        var stalled = new List<RawConnection>();
        for (int i = 0; i < 100; i++)
        {
            RawConnection connection = await RawConnection.ConnectAsync(server.Endpoints[0]);
            byte[] frame = RawConnection.Frame(1, 1, RawConnection.RequestBody("gate/Enter", "[]"));
            // Half of them stop inside the 12-byte header, half inside the body.
            await connection.WriteAsync(frame[..(i % 2 == 0 ? 6 : frame.Length - 3)]);
            stalled.Add(connection);
        }

        // A connection that finished its frames and went quiet is not touched (no idle timeout here).
        RawConnection quiet = await RawConnection.ConnectAsync(server.Endpoints[0]);

        bool[] closedByServer = await Task.WhenAll(stalled.Select(c => c.WaitForCloseAsync(NoHang)));
        Assert.All(closedByServer, Assert.True);
        Assert.False(await quiet.WaitForCloseAsync(TimeSpan.FromSeconds(1)), "a quiet connection between frames was closed");
        Assert.True(closed.GetMeasurementSnapshot().Where(m => Equals(m.Tags["rpcgen.reason"], "frame")).Sum(m => m.Value) >= 100);
        await quiet.DisposeAsync();
        foreach (RawConnection connection in stalled)
        {
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task MaxConnections_RefusesConnectionsBeyondIt_AndServesThemOnceOthersLeave()
    {
        using var refused = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.server.refused");
        await using RpcServer server = await StartAsync(new RpcServerOptions { Limits = { MaxConnections = 5 } }, new Gate("s", open: true));
        var held = new List<RawConnection>();
        for (int i = 0; i < 5; i++)
        {
            held.Add(await RawConnection.ConnectAsync(server.Endpoints[0]));
        }

        for (int i = 0; i < 3; i++)
        {
            await using RawConnection over = await RawConnection.ConnectAsync(server.Endpoints[0], sendPreface: false);
            Assert.True(await over.WaitForCloseAsync(NoHang), "a connection over MaxConnections was kept");
        }

        Assert.True(refused.GetMeasurementSnapshot().Where(m => Equals(m.Tags["rpcgen.limit"], "connections")).Sum(m => m.Value) >= 3);

        await held[0].DisposeAsync();
        await Wait.UntilAsync(() => server.ConnectionCount < 5, "the server saw a connection leave");
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        Assert.Equal("s", await client.CreateProxy<IGate>().EnterAsync().WaitAsync(NoHang));
        foreach (RawConnection connection in held.Skip(1))
        {
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task CallsBeyondTheConnectionLimit_AreRefusedNotProcessed_WithPushback()
    {
        using var refused = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.server.refused");
        var gate = new Gate("s");
        await using RpcServer server = await StartAsync(new RpcServerOptions { Limits = { MaxConcurrentCallsPerConnection = 2 } }, gate);
        await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]);
        for (uint id = 1; id <= 3; id++)
        {
            await raw.WriteAsync(RawConnection.Frame(1, id, RawConnection.RequestBody("gate/Enter", "[]")));
        }

        (byte type, byte flags, uint callId, byte[] body) = await raw.ReadFrameAsync();
        Assert.Equal(3u, callId);
        Assert.Equal(3, type); // error
        Assert.True((flags & 1) != 0, "marked not processed");
        Assert.True((flags & 4) != 0, "carries a pushback");
        (RpcStatusCode code, string message) = RawConnection.ParseError(body);
        Assert.Equal(RpcStatusCode.ResourceExhausted, code);
        Assert.Contains("MaxConcurrentCallsPerConnection", message);
        Assert.Equal(2, gate.Inside);
        Assert.True(refused.GetMeasurementSnapshot().Where(m => Equals(m.Tags["rpcgen.limit"], "calls_per_connection")).Sum(m => m.Value) >= 1);
        gate.Open.TrySetResult(true);
    }

    [Fact]
    public async Task RpcGenClients_QueueCallsBeyondTheServersAnnouncedLimit_InsteadOfBeingRefused()
    {
        var gate = new Gate("s");
        await using RpcServer server = await StartAsync(new RpcServerOptions { Limits = { MaxConcurrentCallsPerConnection = 3 } }, gate);
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IGate proxy = client.CreateProxy<IGate>();
        Task<string>[] calls = Enumerable.Range(0, 40).Select(_ => proxy.EnterAsync()).ToArray();
        await Wait.UntilAsync(() => gate.Inside == 3, "three calls run");
        await Task.Delay(100);
        Assert.Equal(3, gate.Inside);
        gate.Open.TrySetResult(true);
        foreach (Task<string> call in calls)
        {
            Assert.Equal("s", await call.WaitAsync(NoHang));
        }

        Assert.Equal(3, gate.MaxInside);
    }

    [Fact]
    public async Task QueuedCalls_StillEndAtTheirDeadline()
    {
        var gate = new Gate("s");
        await using RpcServer server = await StartAsync(new RpcServerOptions { Limits = { MaxConcurrentCallsPerConnection = 1 } }, gate);
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] }, Resilience = { Policies = { ["gate/Enter"] = new RpcPolicyOverride { TimeoutMs = 300 } } } });
        IGate proxy = client.CreateProxy<IGate>();
        Task<string> first = proxy.HoldAsync(); // holds the one slot for longer than the next call's deadline
        await Wait.UntilAsync(() => gate.Inside == 1, "the first call runs");
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => proxy.EnterAsync().WaitAsync(NoHang));
        Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
        Assert.True(error.NotProcessed, "it never left the queue");
        Assert.Contains("call slot", error.Message);
        Assert.False(first.IsCompleted);
        gate.Open.TrySetResult(true);
        Assert.Equal("s", await first.WaitAsync(NoHang));
        Assert.Equal("s", await proxy.EnterAsync().WaitAsync(NoHang)); // the slot the timed-out waiters held is free again
    }

    [Fact]
    public async Task ServerOverItsCallLimit_ShedsLoadToAnotherServer()
    {
        using var refused = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.server.refused");
        var busy = new Gate("busy");
        var spare = new Gate("spare", open: true);
        await using RpcServer full = await StartAsync(new RpcServerOptions { Limits = { MaxConcurrentCalls = 1 } }, busy);
        await using RpcServer other = await StartAsync(new RpcServerOptions(), spare);

        await using var first = new RpcClient(new RpcClientOptions { Endpoints = { full.Endpoints[0] } });
        Task<string> blocking = first.CreateProxy<IGate>().EnterAsync();
        await Wait.UntilAsync(() => busy.Inside == 1, "the full server runs its one call");

        // A client of both servers: every call that lands on the full one is refused unprocessed and goes to the other.
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { full.Endpoints[0], other.Endpoints[0] } });
        IGate proxy = client.CreateProxy<IGate>();
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal("spare", await proxy.EnterAsync().WaitAsync(NoHang));
        }

        Assert.True(refused.GetMeasurementSnapshot().Where(m => Equals(m.Tags["rpcgen.limit"], "calls")).Sum(m => m.Value) >= 1);
        Assert.Equal(1, busy.MaxInside);
        busy.Open.TrySetResult(true);
        Assert.Equal("busy", await blocking.WaitAsync(NoHang));
    }

    [Fact]
    public async Task CallsTheClientGaveUpOn_FreeTheirSlot_EvenWhileTheirHandlersIgnoreCancellation()
    {
        await using var server = new RpcServer(new RpcServerOptions { Limits = { MaxConcurrentCallsPerConnection = 2 } });
        server.Map<IStubborn>(new Stubborn());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IStubborn proxy = client.CreateProxy<IStubborn>();
        for (int round = 0; round < 3; round++)
        {
            // Two deaf handlers per round never finish; the client's cancel frames (sent at the deadline, ahead of the
            // next requests on the connection) free their slots, as an HTTP/2 stream reset does.
            Task<int>[] calls = { proxy.NeverAsync(), proxy.NeverAsync() };
            foreach (Task<int> call in calls)
            {
                RpcException error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(NoHang));
                Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
            }
        }

        Assert.Equal(0, await proxy.SleepAsync(0).WaitAsync(NoHang));
    }
}

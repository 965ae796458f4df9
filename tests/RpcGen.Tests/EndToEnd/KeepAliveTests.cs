using System.Net;
using System.Net.Sockets;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

public sealed class KeepAliveTests
{
    [Fact]
    public async Task SilentPeer_IsDetectedByKeepAlive_AndTheCallFailsInsteadOfHanging()
    {
        // A peer that completes the handshake, then never answers anything (a dead host behind a live socket).
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        Task mute = Task.Run(async () =>
        {
            using TcpClient peer = await listener.AcceptTcpClientAsync(stop.Token);
            NetworkStream stream = peer.GetStream();
            await stream.WriteAsync(new byte[] { 0x52, 0x50, 0x43, 0x47, 1, 2, 0, 0 }, stop.Token);
            byte[] sink = new byte[4096];
            while (await stream.ReadAsync(sink, stop.Token) > 0)
            {
            }
        });

        await using var client = new RpcClient(new RpcClientOptions
        {
            Endpoints = { new RpcEndpoint("127.0.0.1", port) },
            Connection = { KeepAliveInterval = TimeSpan.FromMilliseconds(200), KeepAliveTimeout = TimeSpan.FromMilliseconds(300) },
        });

        var started = System.Diagnostics.Stopwatch.StartNew();
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<ICalculator>().AddAsync(1, 2).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
        Assert.Contains("keepalive", error.Message, StringComparison.Ordinal);
        // The error names the keepalive, so the interface's 5 s timeout did not fire first; and not before the timeout.
        Assert.True(started.ElapsedMilliseconds >= 300, $"closed after {started.ElapsedMilliseconds} ms, before KeepAliveTimeout");
        stop.Cancel();
    }

    [Fact]
    public async Task KeepAlive_RunsOnTheClientsClock()
    {
        // The same silent peer, but time moves only when the test says so: the ping goes out after the fake clock passes
        // KeepAliveInterval, and the connection closes when the fake clock passes KeepAliveTimeout, not on real time.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var requestArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task mute = Task.Run(async () =>
        {
            using TcpClient peer = await listener.AcceptTcpClientAsync(stop.Token);
            NetworkStream stream = peer.GetStream();
            await stream.WriteAsync(new byte[] { 0x52, 0x50, 0x43, 0x47, 1, 2, 0, 0 }, stop.Token);
            byte[] sink = new byte[4096];
            int total = 0, read;
            while ((read = await stream.ReadAsync(sink, stop.Token)) > 0)
            {
                total += read;
                if (total > 8)
                {
                    requestArrived.TrySetResult(); // the client's preface, then its request
                }
            }
        });

        var time = new FakeTimeProvider();
        await using var client = new RpcClient(new RpcClientOptions
        {
            Endpoints = { new RpcEndpoint("127.0.0.1", port) },
            TimeProvider = time,
            Connection = { KeepAliveInterval = TimeSpan.FromHours(1), KeepAliveTimeout = TimeSpan.FromHours(1) }, // never reached on the real clock during this test
            Resilience = { Policies = { ["calc"] = new RpcPolicyOverride { TimeoutMs = 0 } } }, // no deadline: only keepalive can end the call
        });

        Task<int> call = client.CreateProxy<ICalculator>().AddAsync(1, 2);
        await requestArrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(300);
        Assert.False(call.IsCompleted); // real time passing does nothing

        time.Advance(TimeSpan.FromMinutes(61)); // idle for the interval: a ping goes out
        await Task.Delay(300);
        Assert.False(call.IsCompleted);

        time.Advance(TimeSpan.FromMinutes(61)); // no answer within the timeout: the connection closes
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
        Assert.Contains("keepalive", error.Message, StringComparison.Ordinal);
        stop.Cancel();
    }
}

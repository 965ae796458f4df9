using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using RpcGen.Tests.Support;
using RpcGen.Transport;
using Xunit;
using Xunit.Abstractions;

namespace RpcGen.Tests.Hostile;

[RpcService("obstinate")]
public interface IObstinate
{
    /// <summary>Ignores its token: runs until the test releases it.</summary>
    Task<int> IgnoreAsync(CancellationToken cancellationToken = default);

    Task<int> TrivialAsync();

    /// <summary>The keys of the request's headers, as the handler sees them.</summary>
    Task<string> HeaderKeysAsync();

    /// <summary>Blocks its thread synchronously (as a sync database call would) until the test releases it.</summary>
    Task<int> BlockAsync();

    /// <summary>Spins on the CPU until the test releases it.</summary>
    Task<int> SpinAsync();
}

public sealed class Obstinate : IObstinate
{
    public readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public readonly ManualResetEventSlim Unblock = new();
    public readonly ManualResetEventSlim Blocking = new();
    public volatile bool StopSpinning;
    public int Running;
    public int MaxRunning;
    public int Trivial;

    public async Task<int> IgnoreAsync(CancellationToken cancellationToken = default)
    {
        int now = Interlocked.Increment(ref Running);
        int seen;
        while (now > (seen = Volatile.Read(ref MaxRunning)) && Interlocked.CompareExchange(ref MaxRunning, now, seen) != seen)
        {
        }

        try
        {
            await Release.Task; // the token is ignored on purpose
            return 1;
        }
        finally
        {
            Interlocked.Decrement(ref Running);
        }
    }

    public Task<int> TrivialAsync() => Task.FromResult(Interlocked.Increment(ref Trivial));

    public Task<string> HeaderKeysAsync() => Task.FromResult(string.Join(",", RpcCallContext.Current!.RequestHeaders.Select(e => e.Key)));

    public Task<int> BlockAsync()
    {
        Blocking.Set();
        Unblock.Wait();
        return Task.FromResult(2);
    }

    public Task<int> SpinAsync()
    {
        Blocking.Set();
        while (!StopSpinning)
        {
            Thread.SpinWait(100);
        }

        return Task.FromResult(3);
    }
}

/// <summary>
/// What one client can cost a server: raw peers that never read, flood pings, cancel and resend, stall their
/// handshake, or open connections past the limit; and handlers that block the connection's read loop.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class HostileClientTests
{
    private const long SixteenMiB = 16L * 1024 * 1024;
    private readonly ITestOutputHelper _output;

    public HostileClientTests(ITestOutputHelper output) => _output = output;

    private static long Closed(MetricCollector<long> collector, string reason) =>
        collector.GetMeasurementSnapshot().Where(m => Equals(m.Tags["rpcgen.reason"], reason)).Sum(m => m.Value);

    private static byte[] Requests(int count, string method, string payload, uint firstId = 1)
    {
        byte[] one = RawConnection.Frame(1, 0, RawConnection.RequestBody(method, payload));
        byte[] all = new byte[one.Length * count];
        for (int i = 0; i < count; i++)
        {
            one.CopyTo(all, i * one.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(all.AsSpan((i * one.Length) + 8), firstId + (uint)i);
        }

        return all;
    }

    [Theory]
    [InlineData(true)]  // the peer's connection receives on a thread of its own, which reads ahead up to a frame
    [InlineData(false)] // it receives on the thread pool
    public async Task APeerThatNeverReads_CostsAtMostTheResponseBuffer_AndIsClosedOnceItStaysStuck(bool receiveThreads)
    {
        using var closed = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.server.connections_closed");
        var bulk = new Bulk();
        var options = new RpcServerOptions { Limits = { ResponseDrainTimeout = TimeSpan.FromSeconds(3) } };
        options.Limits.MaxReceiveThreads = receiveThreads ? options.Limits.MaxReceiveThreads : 0;
        await using var server = new RpcServer(options);
        server.Map<IBulk>(bulk);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IBulk proxy = client.CreateProxy<IBulk>();
        await proxy.ExchangeAsync(new byte[1], 1); // warm
        long baseline = Heap.Compacted();

        // 400 requests for 256 KiB results each (100 MiB of answers), never read.
        await using RawConnection peer = await RawConnection.ConnectAsync(server.Endpoints[0]);
        await peer.WriteAsync(Requests(400, "bulk/Exchange", "[\"\",262144]"));
        await Wait.UntilAsync(() => server.OpenConnections.Count == 2, "the server has the peer's connection");
        Assert.All(server.OpenConnections.Keys, c => Assert.Equal(receiveThreads, c.HasReceiveThread));
        long served = -1;
        while (served != Interlocked.Read(ref bulk.BytesReceived) + bulk.Calls)
        {
            served = Interlocked.Read(ref bulk.BytesReceived) + bulk.Calls;
            await Task.Delay(300); // until the server has stopped taking this peer's requests
        }

        long growth = Heap.Compacted() - baseline;
        _output.WriteLine($"a peer that never reads (receive threads: {receiveThreads}): {bulk.Calls} of 400 requests served, " +
            $"heap growth {growth / (1024.0 * 1024):0.0} MiB");
        Assert.True(growth <= SixteenMiB, $"the stuck peer costs {growth / (1024.0 * 1024):0.0} MiB");
        Assert.True(bulk.Calls < 400, "the server stopped reading the peer's requests while their answers were not read");

        // Other connections are served meanwhile; the stuck one is closed after ResponseDrainTimeout.
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(16, (await proxy.ExchangeAsync(new byte[4], 16).WaitAsync(Wait.NoHang)).Length);
        }

        await Wait.UntilAsync(() => Closed(closed, "drain") >= 1);
        await Wait.UntilAsync(() => server.ConnectionCount == 1);
    }

    [Fact]
    public async Task AnInProcessPeerThatNeverReads_CostsAtMostTheResponseBuffer_AndIsClosedOnceItStaysStuck()
    {
        // The in-process transport's pipes (DirectPipe) pause a writer at 64 KiB unread, as a full socket does: the
        // server's output then queues up to its bound, it stops reading, and the drain timeout closes the connection.
        using var closed = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.server.connections_closed");
        var bulk = new Bulk();
        await using var server = new RpcServer(new RpcServerOptions { Limits = { ResponseDrainTimeout = TimeSpan.FromSeconds(3) } });
        server.Map<IBulk>(bulk);
        await server.StartAsync();
        RpcEndpoint endpoint = server.InProcessEndpoint;
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { endpoint } });
        IBulk proxy = client.CreateProxy<IBulk>();
        await proxy.ExchangeAsync(new byte[1], 1); // warm
        long baseline = Heap.Compacted();

        // A raw peer on the in-process transport: its preface, then 400 requests for 256 KiB results, never read.
        TransportConnection peer = InProcessTransport.Connect(endpoint.Host);
        await peer.Output.WriteAsync(new byte[] { 0x52, 0x50, 0x43, 0x47, 1, 1, 0, 0 });
        await peer.Output.WriteAsync(Requests(400, "bulk/Exchange", "[\"\",262144]")).AsTask().WaitAsync(Wait.NoHang);
        long served = -1;
        while (served != Interlocked.Read(ref bulk.BytesReceived) + bulk.Calls)
        {
            served = Interlocked.Read(ref bulk.BytesReceived) + bulk.Calls;
            await Task.Delay(300); // until the server has stopped taking this peer's requests
        }

        long growth = Heap.Compacted() - baseline;
        _output.WriteLine($"an in-process peer that never reads: {bulk.Calls} of 400 requests served, heap growth {growth / (1024.0 * 1024):0.0} MiB");
        Assert.True(growth <= SixteenMiB, $"the stuck peer costs {growth / (1024.0 * 1024):0.0} MiB");
        Assert.True(bulk.Calls < 400, "the server stopped reading the peer's requests while their answers were not read");

        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(16, (await proxy.ExchangeAsync(new byte[4], 16).WaitAsync(Wait.NoHang)).Length);
        }

        await Wait.UntilAsync(() => Closed(closed, "drain") >= 1);
        await Wait.UntilAsync(() => server.ConnectionCount == 1);
    }

    [Fact]
    public async Task APingFlood_IsAnsweredWithAGoAwayAndAClose_AndCostsNoMemory()
    {
        using var closed = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.server.connections_closed");
        await using var server = new RpcServer(new RpcServerOptions());
        server.Map<IObstinate>(new Obstinate());
        await server.StartAsync();
        long baseline = Heap.Compacted();

        await using RawConnection peer = await RawConnection.ConnectAsync(server.Endpoints[0]);
        byte[] ping = RawConnection.Frame(5, 0, new byte[8]);
        byte[] chunk = new byte[ping.Length * 10_000];
        for (int i = 0; i < 10_000; i++)
        {
            ping.CopyTo(chunk, i * ping.Length);
        }

        int sent = 0;
        try
        {
            for (; sent < 1_000_000; sent += 10_000)
            {
                await peer.Stream.WriteAsync(chunk).AsTask().WaitAsync(Wait.NoHang);
            }
        }
        catch (IOException)
        {
            // The server closed the connection: the flood ends here.
        }

        await Wait.UntilAsync(() => Closed(closed, "pings") >= 1);
        long growth = Heap.Compacted() - baseline;
        _output.WriteLine($"ping flood: {sent} pings written before the close, heap growth {growth / (1024.0 * 1024):0.0} MiB");
        Assert.True(growth <= SixteenMiB, $"the ping flood costs {growth / (1024.0 * 1024):0.0} MiB");

        // What the peer reads: pongs (at most 100), then a GoAway that says why.
        var frame = await peer.ReadFrameAsync();
        int pongs = 0;
        while (frame.Type == 6)
        {
            pongs++;
            frame = await peer.ReadFrameAsync();
        }

        Assert.InRange(pongs, 1, 100);
        Assert.Equal(7, frame.Type);
        (RpcStatusCode code, string message) = RawConnection.ParseError(frame.Body[4..]);
        Assert.Equal(RpcStatusCode.ResourceExhausted, code);
        Assert.Contains("more than 100 pings in a second", message, StringComparison.Ordinal);
        Assert.True(await peer.WaitForCloseAsync(Wait.NoHang));
    }

    [Fact]
    public async Task RequestAndCancelPairs_ForHandlersThatIgnoreTheirToken_CannotFillTheServer()
    {
        using var closed = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.server.connections_closed");
        var obstinate = new Obstinate();
        await using var server = new RpcServer(new RpcServerOptions { Limits = { MaxConcurrentCallsPerConnection = 100, MaxConcurrentCalls = 10_000 } });
        server.Map<IObstinate>(obstinate);
        await server.StartAsync();
        try
        {
            await using RawConnection peer = await RawConnection.ConnectAsync(server.Endpoints[0]);
            byte[] request = RawConnection.Frame(1, 0, RawConnection.RequestBody("obstinate/Ignore", "[]"));
            byte[] pair = new byte[request.Length + 12];
            byte[] burst = new byte[pair.Length * 1000];
            uint id = 1;
            int sent = 0;
            try
            {
                for (; sent < 50_000; sent += 1000)
                {
                    for (int i = 0; i < 1000; i++, id++)
                    {
                        request.CopyTo(burst, i * pair.Length);
                        BinaryPrimitives.WriteUInt32LittleEndian(burst.AsSpan((i * pair.Length) + 8), id);
                        byte[] cancel = RawConnection.Frame(4, id, Array.Empty<byte>());
                        cancel.CopyTo(burst, (i * pair.Length) + request.Length);
                    }

                    await peer.Stream.WriteAsync(burst).AsTask().WaitAsync(Wait.NoHang);
                }
            }
            catch (IOException)
            {
                // Closed by the server.
            }

            await Wait.UntilAsync(() => Closed(closed, "cancelled_calls") >= 1);
            _output.WriteLine($"rapid reset: {sent} pairs written, at most {obstinate.MaxRunning} handlers running at once");
            Assert.InRange(obstinate.MaxRunning, 100, 200);

            // A well-behaved client is served meanwhile: the server is far from its 10,000 calls.
            await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
            Assert.True(await client.CreateProxy<IObstinate>().TrivialAsync().WaitAsync(Wait.NoHang) >= 1);
        }
        finally
        {
            obstinate.Release.TrySetResult();
        }
    }

    [Fact]
    public async Task TheHandshakeTimeout_IsOneBudgetFromAcceptToPreface_TlsIncluded()
    {
        X509Certificate2 authority = TestCertificates.CreateAuthority();
        var time = new FakeTimeProvider();
        await using var server = new RpcServer(new RpcServerOptions
        {
            Tls = new RpcServerTlsOptions { Certificate = TestCertificates.Issue(authority, "localhost") },
            Limits = { HandshakeTimeout = TimeSpan.FromSeconds(2) },
            TimeProvider = time,
        });
        server.Map<IObstinate>(new Obstinate());
        await server.StartAsync();

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Endpoints[0].Host, server.Endpoints[0].Port);
        time.Advance(TimeSpan.FromMilliseconds(1500)); // the client waits 1.5 s before its TLS hello
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync("localhost");
        byte[] preface = new byte[8 + 18];
        await tls.ReadExactlyAsync(preface).AsTask().WaitAsync(Wait.NoHang); // served: the server's preface and settings, then nothing from us
        await Task.Delay(100);

        time.Advance(TimeSpan.FromMilliseconds(600)); // 2.1 s since the accept: the budget is spent
        using var timeout = new CancellationTokenSource(Wait.NoHang);
        int read;
        try
        {
            read = await tls.ReadAsync(new byte[16], timeout.Token);
        }
        catch (IOException)
        {
            read = 0;
        }

        Assert.Equal(0, read); // closed, not left open for another 2 s of the clock
    }

    [Fact]
    public async Task ABlockingHandler_DoesNotStallTheOtherCallsOfItsClient_ByDefault()
    {
        var obstinate = new Obstinate();
        await using var server = new RpcServer(new RpcServerOptions());
        server.Map<IObstinate>(obstinate);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IObstinate proxy = client.CreateProxy<IObstinate>();
        await proxy.TrivialAsync();

        Task<int> blocked = proxy.BlockAsync();
        Assert.True(obstinate.Blocking.Wait(Wait.NoHang));
        int before = Volatile.Read(ref obstinate.Trivial);
        await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => proxy.TrivialAsync())).WaitAsync(Wait.NoHang);
        Assert.Equal(before + 200, Volatile.Read(ref obstinate.Trivial));
        Assert.False(blocked.IsCompleted, "the blocking handler is still blocked while 200 calls of its client completed");
        obstinate.Unblock.Set();
        Assert.Equal(2, await blocked.WaitAsync(Wait.NoHang));

        // A handler that computes (spins) instead of blocking: the same.
        obstinate.Blocking.Reset();
        Task<int> spinning = proxy.SpinAsync();
        Assert.True(obstinate.Blocking.Wait(Wait.NoHang));
        await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => proxy.TrivialAsync())).WaitAsync(Wait.NoHang);
        Assert.False(spinning.IsCompleted);
        obstinate.StopSpinning = true;
        Assert.Equal(3, await spinning.WaitAsync(Wait.NoHang));
    }

    [Fact]
    public async Task ReservedMetadataKeysFromARawPeer_AreDropped_BeforeTheHandlerReadsThem()
    {
        await using var server = new RpcServer(new RpcServerOptions());
        server.Map<IObstinate>(new Obstinate());
        await server.StartAsync();
        await using RawConnection peer = await RawConnection.ConnectAsync(server.Endpoints[0]);

        // Request body by hand: timeout, name, three headers (one reserved), no arguments.
        var body = new List<byte> { 0, 0, 0, 0 };
        byte[] name = System.Text.Encoding.ASCII.GetBytes("obstinate/HeaderKeys");
        body.AddRange(BitConverter.GetBytes((ushort)name.Length));
        body.AddRange(name);
        body.AddRange(BitConverter.GetBytes((ushort)3));
        foreach ((string key, string value) in new[] { ("tenant", "a"), ("rpcgen-user", "admin"), ("rpcgen-deadline", "1") })
        {
            body.AddRange(BitConverter.GetBytes((ushort)key.Length));
            body.AddRange(System.Text.Encoding.ASCII.GetBytes(key));
            body.AddRange(BitConverter.GetBytes((ushort)value.Length));
            body.AddRange(System.Text.Encoding.ASCII.GetBytes(value));
        }

        body.AddRange("[]"u8.ToArray());
        await peer.WriteAsync(RawConnection.Frame(1, 1, body.ToArray()));
        var response = await peer.ReadFrameAsync();
        Assert.Equal(2, response.Type);
        Assert.Equal("\"tenant\"", System.Text.Encoding.UTF8.GetString(response.Body));
    }

    [Fact]
    public async Task AnAuthenticatorThatThrowsWithTheToken_DoesNotGetTheTokenLogged()
    {
        const string token = "s3cr3t-0123456789-abcdefghij";
        var logs = new FakeLogCollector();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(logs)).SetMinimumLevel(LogLevel.Debug));
        await using var server = new RpcServer(new RpcServerOptions
        {
            LoggerFactory = loggers,
            Authenticator = RpcAuthenticators.BearerToken((presented, _) => throw new InvalidOperationException($"The token '{presented}' has a bad signature (kid 9f8e7d6c5b4a39281706)")),
        });
        server.Map<IObstinate>(new Obstinate());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions
        {
            Endpoints = { server.Endpoints[0] },
            AllowCredentialsOverPlainText = true,
            Credentials = RpcCallCredentials.BearerToken(_ => new ValueTask<string>(token)),
        });

        RpcException refused = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IObstinate>().TrivialAsync());
        Assert.Equal(RpcStatusCode.Unauthenticated, refused.StatusCode);
        FakeLogRecord record = Assert.Single(logs.GetSnapshot(), r => r.Id.Id == 1014);
        _output.WriteLine(record.Message);
        Assert.DoesNotContain("s3cr3t", record.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("9f8e7d6c5b4a39281706", record.Message, StringComparison.Ordinal);
        Assert.Contains("System.InvalidOperationException", record.Message, StringComparison.Ordinal);
        Assert.Contains("has a bad signature", record.Message, StringComparison.Ordinal);
        Assert.Null(record.Exception);
    }

    [Fact]
    public async Task AConnectionOverMaxConnections_IsToldWhy_AndTheFloodIsLoggedAsOneLinePerInterval()
    {
        var logs = new FakeLogCollector();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(logs)).SetMinimumLevel(LogLevel.Debug));
        await using var server = new RpcServer(new RpcServerOptions { Limits = { MaxConnections = 1 }, LoggerFactory = loggers });
        server.Map<IObstinate>(new Obstinate());
        await server.StartAsync();
        await using RawConnection holder = await RawConnection.ConnectAsync(server.Endpoints[0]);
        await Wait.UntilAsync(() => server.ConnectionCount == 1);

        await using (var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } }))
        {
            RpcException refused = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IObstinate>().TrivialAsync());
            _output.WriteLine(refused.Message);
            Assert.Contains("RpcServerOptions.Limits.MaxConnections", refused.Message, StringComparison.Ordinal);
            Assert.Contains("refused the connection", refused.Message, StringComparison.Ordinal);
        }

        for (int i = 0; i < 2000; i++)
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(server.Endpoints[0].Host, server.Endpoints[0].Port);
        }

        int lines = logs.GetSnapshot().Count(r => r.Id.Id == 1004);
        Assert.InRange(lines, 1, 2);
    }
}

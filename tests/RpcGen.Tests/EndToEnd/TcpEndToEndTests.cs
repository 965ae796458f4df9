using System.Net;
using System.Net.Sockets;
using System.Text;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

/// <summary>Real servers on 127.0.0.1, real sockets, one client.</summary>
public sealed class TcpEndToEndTests
{
    [Fact]
    public async Task Calls_AllShapes_ReturnCorrectResults()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(3);
        await using RpcClient client = cluster.CreateClient();
        ICalculator calc = client.CreateProxy<ICalculator>();

        Assert.Equal(5, await calc.AddAsync(2, 3));
        Assert.Equal(-1, await calc.AddAsync(int.MaxValue, int.MinValue));
        Quote quote = await calc.QuoteAsync(new QuoteRequest("MSFT", 3));
        Assert.Equal(new Quote("MSFT", 37.5m, new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero)), quote);
        await calc.ResetAsync();
        Assert.Equal(long.MaxValue - 1, await calc.MultiplyAsync((long.MaxValue - 1) / 2, 2));
        Assert.Equal(3, await calc.EchoSizeAsync("héé"));
        Assert.Equal(15, await calc.AddWithDefaultAsync(5, 10));
        Assert.Same(calc, client.CreateProxy<ICalculator>());
    }

    [Fact]
    public async Task Calls_AreSpreadRoundRobinOverThreeServers()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(3);
        await using RpcClient client = cluster.CreateClient();
        ICalculator calc = client.CreateProxy<ICalculator>();

        var answeredBy = new Dictionary<string, int>();
        for (int i = 0; i < 30; i++)
        {
            string name = await calc.WhoAmIAsync();
            answeredBy[name] = answeredBy.GetValueOrDefault(name) + 1;
        }

        Assert.Equal(3, answeredBy.Count);
        Assert.All(answeredBy.Values, count => Assert.Equal(10, count));
    }

    [Fact]
    public async Task ManyConcurrentCallers_ShareConnections_AllResultsCorrect()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(3);
        await using RpcClient client = cluster.CreateClient();
        ICalculator calc = client.CreateProxy<ICalculator>();

        int failures = 0;
        await Task.WhenAll(Enumerable.Range(0, 64).Select(caller => Task.Run(async () =>
        {
            for (int i = 0; i < 200; i++)
            {
                if (await calc.AddAsync(caller, i) != caller + i)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }))).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, failures);
        Assert.Equal(64 * 200, cluster.Services.Sum(c => c.Calls));
        Assert.All(cluster.Services, c => Assert.InRange(c.Calls, 64 * 200 / 3 - 64, 64 * 200 / 3 + 64));
    }

    [Fact]
    public async Task CallerCancellation_ReachesTheHandler()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        await using RpcClient client = cluster.CreateClient();
        ICalculator calc = client.CreateProxy<ICalculator>();

        using var cts = new CancellationTokenSource();
        Task<int> call = calc.WaitForCancellationAsync(60_000, cts.Token);
        await cluster.Services[0].HandlerStarted.Task.WaitAsync(NoHang);
        cts.Cancel();

        OperationCanceledException error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(NoHang));
        Assert.Equal(cts.Token, error.CancellationToken);
        Assert.True(await cluster.Services[0].HandlerCancelled.Task.WaitAsync(NoHang));
        Assert.Equal(5, await calc.AddAsync(2, 3)); // the connection goes on
    }

    [Fact]
    public async Task Deadline_FailsTheCallAndFiresTheHandlersToken()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        await using RpcClient client = cluster.CreateClient();
        ICalculator calc = client.CreateProxy<ICalculator>();
        Assert.Equal(2, await calc.AddAsync(1, 1)); // connected first, so the 200 ms go to the call, not to connecting

        var started = System.Diagnostics.Stopwatch.StartNew();
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => calc.SlowWithDeadlineAsync(60_000).WaitAsync(NoHang));
        started.Stop();

        Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
        Assert.True(started.ElapsedMilliseconds >= 150, $"[Timeout(200)] fired after {started.ElapsedMilliseconds} ms");
        // The handler's token fired at the deadline, unless the machine was so loaded that the request never left
        // (then the error says so, and no handler ran to be cancelled).
        Assert.True(error.NotProcessed || await cluster.Services[0].HandlerCancelled.Task.WaitAsync(NoHang));
    }

    [Fact]
    public async Task HandlerExceptions_MapToStatusCodes_WithoutLeakingDetails()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        await using RpcClient client = cluster.CreateClient();
        ICalculator calc = client.CreateProxy<ICalculator>();

        RpcException rpc = await Assert.ThrowsAsync<RpcException>(() => calc.FailAsync("rpc"));
        Assert.Equal(RpcStatusCode.NotFound, rpc.StatusCode);
        Assert.Equal("no such thing", rpc.Message);

        RpcException faulted = await Assert.ThrowsAsync<RpcException>(() => calc.FailAsync("argument"));
        Assert.Equal(RpcStatusCode.Internal, faulted.StatusCode);
        Assert.DoesNotContain("secret", faulted.Message, StringComparison.Ordinal);

        RpcException thrown = await Assert.ThrowsAsync<RpcException>(() => calc.FailAsync("sync"));
        Assert.Equal(RpcStatusCode.Internal, thrown.StatusCode);
        Assert.DoesNotContain("secret", thrown.Message, StringComparison.Ordinal);

        await calc.FailAsync("none"); // the server keeps serving
    }

    [Fact]
    public async Task IncludeExceptionDetails_SendsTypeAndMessage()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1, o => o.IncludeExceptionDetails = true);
        await using RpcClient client = cluster.CreateClient();
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<ICalculator>().FailAsync("sync"));
        Assert.Equal(RpcStatusCode.Internal, error.StatusCode);
        Assert.Contains("InvalidOperationException: secret detail", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownMethodOrService_IsUnimplemented_AndServerGoesOn()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        await using RpcClient client = cluster.CreateClient();

        RpcException method = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<ICalculatorV2>().SubtractAsync(3, 2));
        Assert.Equal(RpcStatusCode.Unimplemented, method.StatusCode);
        Assert.Contains("has no method 'Subtract'", method.Message, StringComparison.Ordinal);

        RpcException service = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IMissing>().PingAsync());
        Assert.Equal(RpcStatusCode.Unimplemented, service.StatusCode);
        Assert.Contains("no service 'missing'", service.Message, StringComparison.Ordinal);

        Assert.Equal(5, await client.CreateProxy<ICalculator>().AddAsync(2, 3));
    }

    [Fact]
    public async Task OversizeRequest_IsRejectedByTheServer_ConnectionGoesOn()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1, o => o.Limits.MaxFrameSize = 4096);
        await using RpcClient client = cluster.CreateClient();
        ICalculator calc = client.CreateProxy<ICalculator>();

        Assert.Equal(100, await calc.EchoSizeAsync(new string('x', 100)));
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => calc.EchoSizeAsync(new string('x', 100_000)).WaitAsync(NoHang));
        Assert.Equal(RpcStatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("maximum frame size of 4096", error.Message, StringComparison.Ordinal);
        Assert.Equal(100, await calc.EchoSizeAsync(new string('x', 100)));
        Assert.Equal(0, cluster.Servers[0].InFlight);
    }

    [Fact]
    public async Task OversizeRequest_IsRejectedByTheClientBeforeSending()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        await using RpcClient client = cluster.CreateClient(o => o.Connection.MaxFrameSize = 2048);
        ICalculator calc = client.CreateProxy<ICalculator>();

        RpcException error = await Assert.ThrowsAsync<RpcException>(() => calc.EchoSizeAsync(new string('x', 10_000)));
        Assert.Equal(RpcStatusCode.ResourceExhausted, error.StatusCode);
        Assert.True(error.NotProcessed);
        Assert.Equal(0, cluster.Services[0].Calls);
        Assert.Equal(4, await calc.EchoSizeAsync("abcd"));
    }

    [Fact]
    public async Task ServerKilledMidCall_FailsTheCallWithUnavailable_NoHang()
    {
        ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        await using RpcClient client = cluster.CreateClient();
        ICalculator calc = client.CreateProxy<ICalculator>();

        Task<int> call = calc.WaitForCancellationAsync(60_000);
        await cluster.Services[0].HandlerStarted.Task.WaitAsync(NoHang);
        await cluster.DisposeAsync();

        RpcException error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(NoHang));
        Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
        Assert.False(error.NotProcessed); // it was running: not safe to send elsewhere
        Assert.True(await cluster.Services[0].HandlerCancelled.Task.WaitAsync(NoHang));

        RpcException after = await Assert.ThrowsAsync<RpcException>(() => calc.AddAsync(1, 2).WaitAsync(NoHang));
        Assert.Equal(RpcStatusCode.Unavailable, after.StatusCode);
    }

    [Fact]
    public async Task GracefulStop_FinishesInFlightCalls_AndNewCallsGoElsewhere()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(3);
        await using RpcClient client = cluster.CreateClient();
        ICalculator calc = client.CreateProxy<ICalculator>();
        for (int i = 0; i < 3; i++)
        {
            await calc.AddAsync(i, i); // connect to all three
        }

        // Find the server that will take the next call, then stop it while the call runs.
        int before = cluster.Services.Sum(c => c.Calls);
        Task<int> running = calc.WaitForCancellationAsync(300);
        Calculator busy = await WhichStartedAsync(cluster);
        RpcServer stopping = cluster.Servers[cluster.Services.IndexOf(busy)];
        Task stop = stopping.StopAsync(new CancellationTokenSource(NoHang).Token);

        for (int i = 0; i < 30; i++)
        {
            Assert.Equal(2 * i, await calc.AddAsync(i, i).WaitAsync(NoHang));
        }

        Assert.Equal(300, await running.WaitAsync(NoHang)); // finished, not cancelled
        await stop.WaitAsync(NoHang);
        Assert.False(busy.HandlerCancelled.Task.IsCompleted);
        Assert.Equal(before + 31, cluster.Services.Sum(c => c.Calls));
    }

    private static async Task<Calculator> WhichStartedAsync(ServerCluster<Calculator> cluster)
    {
        Task<Task<bool>> first = Task.WhenAny(cluster.Services.Select(c => c.HandlerStarted.Task));
        Task<bool> started = await first.WaitAsync(NoHang);
        return cluster.Services.Single(c => c.HandlerStarted.Task == started);
    }

    [Fact]
    public async Task UnreachableEndpoint_CallsGoToTheOthers()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(2);
        using var placeholder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        placeholder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int deadPort = ((IPEndPoint)placeholder.LocalEndPoint!).Port; // bound but not listening: connection refused

        await using RpcClient client = cluster.CreateClient(o => o.Endpoints.Insert(0, new RpcEndpoint("127.0.0.1", deadPort)));
        ICalculator calc = client.CreateProxy<ICalculator>();
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(i + 1, await calc.AddAsync(i, 1).WaitAsync(NoHang));
        }

        Assert.Equal(20, cluster.Services.Sum(c => c.Calls));
    }

    [Fact]
    public async Task RestartedServer_IsReconnected()
    {
        var first = new RpcServer();
        first.Map<ICalculator>(new Calculator("first"));
        await first.StartAsync();
        RpcEndpoint endpoint = first.Endpoints[0];

        await using RpcClient client = new(new RpcClientOptions
        {
            Connection = { ReconnectBackoff = TimeSpan.FromMilliseconds(20), MaxReconnectBackoff = TimeSpan.FromMilliseconds(50) },
            Endpoints = { endpoint },
        });
        ICalculator calc = client.CreateProxy<ICalculator>();
        Assert.Equal("first", await calc.WhoAmIAsync());

        await first.DisposeAsync();
        await Assert.ThrowsAsync<RpcException>(() => calc.WhoAmIAsync().WaitAsync(NoHang));

        var options = new RpcServerOptions();
        options.Listen.Add(new IPEndPoint(IPAddress.Parse(endpoint.Host), endpoint.Port));
        await using var second = new RpcServer(options);
        second.Map<ICalculator>(new Calculator("second"));
        await second.StartAsync();

        string? answer = null;
        for (int attempt = 0; attempt < 100 && answer is null; attempt++)
        {
            try
            {
                answer = await calc.WhoAmIAsync().WaitAsync(NoHang);
            }
            catch (RpcException ex) when (ex.StatusCode == RpcStatusCode.Unavailable)
            {
                await Task.Delay(20); // waiting out the reconnect backoff
            }
        }

        Assert.Equal("second", answer);
    }

    [Fact]
    public async Task GarbageOnThePort_IsRefused_WhileOtherClientsGoOn()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1, o => o.Limits.HandshakeTimeout = TimeSpan.FromSeconds(2));
        await using RpcClient client = cluster.CreateClient();
        ICalculator calc = client.CreateProxy<ICalculator>();
        Assert.Equal(3, await calc.AddAsync(1, 2));

        await using (RawConnection http = await RawConnection.ConnectAsync(cluster.Servers[0].Endpoints[0], sendPreface: false))
        {
            await http.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
            Assert.True(await http.WaitForCloseAsync(NoHang));
        }

        await using (RawConnection silent = await RawConnection.ConnectAsync(cluster.Servers[0].Endpoints[0], sendPreface: false))
        {
            Assert.True(await silent.WaitForCloseAsync(NoHang)); // no preface within the handshake timeout
        }

        var random = new Random(7);
        for (int i = 0; i < 5; i++)
        {
            byte[] noise = new byte[64 + random.Next(512)];
            random.NextBytes(noise);
            await using RawConnection garbage = await RawConnection.ConnectAsync(cluster.Servers[0].Endpoints[0], sendPreface: false);
            await garbage.WriteAsync(noise);
            Assert.True(await garbage.WaitForCloseAsync(NoHang));
            Assert.Equal(i + 10, await calc.AddAsync(i, 10));
        }
    }

    [Fact]
    public async Task ClientTalkingToANonRpcGenServer_GetsAClearError()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Task serve = Task.Run(async () =>
        {
            using TcpClient peer = await listener.AcceptTcpClientAsync();
            await peer.GetStream().WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\n\r\n"));
            await Task.Delay(2000);
        });

        await using RpcClient client = new(new RpcClientOptions { Endpoints = { new RpcEndpoint("127.0.0.1", port) } });
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<ICalculator>().AddAsync(1, 2).WaitAsync(NoHang));
        Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
        Assert.Contains("does not speak the RpcGen protocol", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ping_MeasuresARoundTrip()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        await using RpcClient client = cluster.CreateClient();
        TimeSpan rtt = await client.PingAsync(cluster.Servers[0].Endpoints[0]).WaitAsync(NoHang);
        Assert.True(rtt > TimeSpan.Zero, $"round trip {rtt}");
        // Only the client's own endpoints can be pinged.
        ArgumentException error = Assert.Throws<ArgumentException>(() => client.PingAsync(new RpcEndpoint("127.0.0.1", 1)).GetAwaiter().GetResult());
        Assert.Contains("is not one of this client's endpoints", error.Message, StringComparison.Ordinal);
    }
}

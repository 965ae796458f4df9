using System.Security.Cryptography.X509Certificates;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Streaming;

/// <summary>The four shapes of streaming over TCP, TLS and in process, with real servers.</summary>
public sealed class StreamingEndToEndTests
{
    private static readonly X509Certificate2 s_authority = TestCertificates.CreateAuthority();
    private static readonly X509Certificate2 s_serverCertificate = TestCertificates.Issue(s_authority, "localhost");

    public static TheoryData<string> Transports => new() { "tcp", "tls", "in-process" };

    private static async Task<(RpcServer Server, RpcClient Client, Prices Prices)> StartAsync(string transport,
        Action<RpcServerOptions>? server = null, Action<RpcClientOptions>? client = null)
    {
        var serverOptions = new RpcServerOptions();
        if (transport == "tls")
        {
            serverOptions.Tls = new RpcServerTlsOptions { Certificate = s_serverCertificate };
        }

        server?.Invoke(serverOptions);
        var rpcServer = new RpcServer(serverOptions);
        var prices = new Prices();
        rpcServer.Map<IPrices>(prices);
        await rpcServer.StartAsync();
        var clientOptions = new RpcClientOptions();
        clientOptions.Endpoints.Add(transport == "in-process" ? rpcServer.InProcessEndpoint : rpcServer.Endpoints[0]);
        if (transport == "tls")
        {
            clientOptions.Tls = new RpcClientTlsOptions
            {
                CertificateAuthorities = new X509Certificate2Collection(s_authority),
                TargetHost = "localhost",
            };
        }

        client?.Invoke(clientOptions);
        return (rpcServer, new RpcClient(clientOptions), prices);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task ServerStream_DeliversEveryItemInOrder_ThenEnds(string transport)
    {
        (RpcServer server, RpcClient client, _) = await StartAsync(transport);
        await using (server)
        await using (client)
        {
            IPrices prices = client.CreateProxy<IPrices>();
            var received = new List<Tick>();
            await foreach (Tick tick in prices.WatchAsync("MSFT", 1000).WithCancellation(CancellationToken.None))
            {
                received.Add(tick);
            }

            Assert.Equal(1000, received.Count);
            Assert.Equal(Enumerable.Range(1, 1000).Select(i => (long)i), received.Select(t => t.Sequence));
            Assert.All(received, t => Assert.Equal("MSFT", t.Symbol));
            Assert.Equal(101m, received[0].Price);
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task ClientStream_SendsEveryItem_AndReturnsTheResult(string transport)
    {
        (RpcServer server, RpcClient client, Prices service) = await StartAsync(transport);
        await using (server)
        await using (client)
        {
            IPrices prices = client.CreateProxy<IPrices>();
            TradeSummary summary = await prices.UploadAsync(Trades(5000));
            Assert.Equal(new TradeSummary(5000, 5000 * 5001 / 2), summary);

            await prices.CountAsync("tag-1", Numbers(100));
            Assert.Equal(5050, service.Counted);
            Assert.Equal("tag-1", await service.LastTag.Task.WaitAsync(Wait.NoHang));
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Duplex_EchoesEachItem(string transport)
    {
        (RpcServer server, RpcClient client, _) = await StartAsync(transport);
        await using (server)
        await using (client)
        {
            IPrices prices = client.CreateProxy<IPrices>();
            var echoed = new List<Tick>();
            await foreach (Tick tick in prices.EchoAsync(Trades(500)))
            {
                echoed.Add(tick);
            }

            Assert.Equal(500, echoed.Count);
            Assert.Equal(Enumerable.Range(1, 500).Select(i => (decimal)i), echoed.Select(t => t.Price));
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task HandlerThrowing_EndsTheEnumeration_WithStatusMessageAndTrailers_AfterTheItemsBeforeIt(string transport)
    {
        (RpcServer server, RpcClient client, _) = await StartAsync(transport);
        await using (server)
        await using (client)
        {
            IPrices prices = client.CreateProxy<IPrices>();
            var received = new List<int>();
            RpcException error = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                await foreach (int i in prices.FailingAsync(3))
                {
                    received.Add(i);
                }
            });

            Assert.Equal(new[] { 1, 2, 3 }, received);
            Assert.Equal(RpcStatusCode.NotFound, error.StatusCode);
            Assert.Equal("failed after 3", error.Message);
            Assert.Equal("gone", error.Trailers?.GetValue("reason"));
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task ResponseHeaders_ArriveWithTheFirstItem_BeforeTheEnd_AndAreSealedOnceSent(string transport)
    {
        foreach (bool fail in new[] { false, true })
        {
            (RpcServer server, RpcClient client, Prices service) = await StartAsync(transport);
            await using (server)
            await using (client)
            {
                IPrices prices = client.CreateProxy<IPrices>();
                using RpcCallScope scope = RpcCallScope.Begin();
                await using IAsyncEnumerator<int> items = prices.HeadedAsync(3, fail).GetAsyncEnumerator();
                Assert.True(await items.MoveNextAsync());

                // The handler waits for the test: what the caller sees now came ahead of the stream's end.
                Assert.Equal("prices", scope.ResponseHeaders?.GetValue("served-by"));
                Assert.Null(scope.ResponseTrailers);
                service.Proceed.SetResult();
                string late = await service.LateHeader.Task.WaitAsync(TimeSpan.FromSeconds(20));
                Assert.Contains("read-only", late, StringComparison.OrdinalIgnoreCase);

                var rest = new List<int>();
                RpcException? error = null;
                try
                {
                    while (await items.MoveNextAsync())
                    {
                        rest.Add(items.Current);
                    }
                }
                catch (RpcException ex)
                {
                    error = ex;
                }

                Assert.Equal(new[] { 2, 3 }, rest);
                Assert.Equal("prices", scope.ResponseHeaders?.GetValue("served-by"));
                Assert.Null(scope.ResponseHeaders?.GetValue("late"));
                Assert.Equal(1, scope.ResponseHeaders?.Count);
                Assert.Equal("yes", scope.ResponseTrailers?.GetValue("done"));
                if (fail)
                {
                    Assert.Equal(RpcStatusCode.Aborted, error?.StatusCode);
                    Assert.Equal("prices", error!.ResponseHeaders?.GetValue("served-by"));
                }
                else
                {
                    Assert.Null(error);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task CallerDisposingItsEnumerator_StopsTheHandler(string transport)
    {
        (RpcServer server, RpcClient client, Prices service) = await StartAsync(transport);
        await using (server)
        await using (client)
        {
            IPrices prices = client.CreateProxy<IPrices>();
            await foreach (int first in prices.HangAsync())
            {
                Assert.Equal(1, first);
                break; // disposes the enumerator
            }

            await service.Cancelled.Task.WaitAsync(Wait.NoHang);
            await Wait.UntilAsync(() => server.InFlight == 0, "the stream's call to end on the server");
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task CallerCancellingItsToken_StopsTheHandler_AndThrowsOperationCanceled(string transport)
    {
        (RpcServer server, RpcClient client, Prices service) = await StartAsync(transport);
        await using (server)
        await using (client)
        {
            IPrices prices = client.CreateProxy<IPrices>();
            using var cts = new CancellationTokenSource();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await foreach (int item in prices.HangAsync(cts.Token))
                {
                    cts.Cancel();
                }
            });

            await service.Cancelled.Task.WaitAsync(Wait.NoHang);
        }
    }

    internal static async IAsyncEnumerable<Trade> Trades(int count)
    {
        for (int i = 1; i <= count; i++)
        {
            if (i % 100 == 0)
            {
                await Task.Yield();
            }

            yield return new Trade("T" + i, i);
        }
    }

    internal static async IAsyncEnumerable<int> Numbers(int count)
    {
        for (int i = 1; i <= count; i++)
        {
            await Task.Yield();
            yield return i;
        }
    }
}

using System.Buffers.Binary;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using RpcGen.Tests.Support;
using RpcGen.Transport;
using Xunit;

namespace RpcGen.Tests.Compression;

/// <summary>
/// [Compress] between real peers on loopback: the bytes a proxy counts on the wire, each algorithm, the peers that do not
/// announce it, TLS, and what a raw client may send.
/// </summary>
public sealed class CompressionEndToEndTests
{
    private static readonly X509Certificate2 s_authority = TestCertificates.CreateAuthority();
    private static readonly X509Certificate2 s_serverCertificate = TestCertificates.Issue(s_authority, "localhost");
    private static readonly Reading[] s_records = Compressed.Readings(64);
    private const System.IO.Compression.CompressionLevel Fastest = System.IO.Compression.CompressionLevel.Fastest;
    private static readonly JsonSerializerOptions s_json = RpcGen.Serialization.RpcDefaults.CreateSerializerOptions();

    private static async Task<RpcServer> StartAsync(RpcServerTlsOptions? tls = null, Action<RpcServerOptions>? configure = null)
    {
        var options = new RpcServerOptions { Tls = tls };
        configure?.Invoke(options);
        var server = new RpcServer(options);
        server.Map<ICompressed>(new Compressed());
        await server.StartAsync();
        return server;
    }

    private static RpcClient Client(RpcEndpoint endpoint, bool tls = false) => new(new RpcClientOptions
    {
        Endpoints = { endpoint },
        Tls = tls ? new RpcClientTlsOptions { CertificateAuthorities = new X509Certificate2Collection(s_authority), TargetHost = "localhost" } : null,
    });

    /// <summary>A server behind a counting proxy and a connected client (the server's settings are known to it).</summary>
    private sealed class Link : IAsyncDisposable
    {
        private RpcServer _server = null!;
        private RpcClient _client = null!;

        public FaultProxy Proxy { get; private set; } = null!;

        public ICompressed Zip { get; private set; } = null!;

        public static async Task<Link> OpenAsync(bool tls)
        {
            var link = new Link { _server = await StartAsync(tls ? new RpcServerTlsOptions { Certificate = s_serverCertificate } : null) };
            link.Proxy = FaultProxy.Start(link._server.Endpoints[0]);
            link._client = Client(link.Proxy.Endpoint, tls);
            link.Zip = link._client.CreateProxy<ICompressed>();
            await link.Zip.EchoPlainAsync(Array.Empty<Reading>());
            return link;
        }

        public async ValueTask DisposeAsync()
        {
            await _client.DisposeAsync();
            await Proxy.DisposeAsync();
            await _server.DisposeAsync();
        }
    }

    /// <summary>The bytes one call moves through the proxy each way.</summary>
    private static async Task<(long Up, long Down)> MeasureAsync(FaultProxy proxy, Func<Task<Reading[]>> call)
    {
        long up = proxy.BytesToServer, down = proxy.BytesToClient;
        Reading[] echoed = await call();
        Assert.Equal(s_records, echoed);
        return (proxy.BytesToServer - up, proxy.BytesToClient - down);
    }

    [Fact]
    public async Task EveryAlgorithm_ShrinksA64KiBRecordPayloadAtLeastFiveTimes_EachWay()
    {
        await using Link link = await Link.OpenAsync(tls: false);
        (FaultProxy proxy, ICompressed zip) = (link.Proxy, link.Zip);

        (long Up, long Down) plain = await MeasureAsync(proxy, () => zip.EchoPlainAsync(s_records));
        Assert.True(plain.Up > 60_000 && plain.Down > 60_000, $"{plain}");
        foreach ((string name, Func<Task<Reading[]>> call) in new (string, Func<Task<Reading[]>>)[]
        {
            ("zstd", () => zip.EchoAsync(s_records)),
            ("gzip", () => zip.EchoGzipAsync(s_records)),
            ("brotli", () => zip.EchoBrotliAsync(s_records)),
        })
        {
            (long up, long down) = await MeasureAsync(proxy, call);
            Assert.True(up * 5 <= plain.Up, $"{name}: {up} bytes up against {plain.Up}");
            Assert.True(down * 5 <= plain.Down, $"{name}: {down} bytes down against {plain.Down}");
        }
    }

    [Fact]
    public async Task Streams_AreCompressedFrameByFrame_BothWays()
    {
        await using Link link = await Link.OpenAsync(tls: false);
        (FaultProxy proxy, ICompressed zip) = (link.Proxy, link.Zip);

        async Task<long> DownAsync(IAsyncEnumerable<Reading> stream)
        {
            long before = proxy.BytesToClient;
            var received = new List<Reading>();
            await foreach (Reading reading in stream)
            {
                received.Add(reading);
            }

            Assert.Equal(s_records, received);
            return proxy.BytesToClient - before;
        }

        async Task<long> UpAsync(Func<IAsyncEnumerable<Reading>, Task<int>> upload)
        {
            long before = proxy.BytesToServer;
            Assert.Equal(s_records.Length, await upload(s_records.ToAsyncEnumerable()));
            return proxy.BytesToServer - before;
        }

        long plainDown = await DownAsync(zip.WatchPlainAsync(64)), down = await DownAsync(zip.WatchAsync(64));
        long plainUp = await UpAsync(s => zip.UploadPlainAsync(s)), up = await UpAsync(s => zip.UploadAsync(s));
        Assert.True(down * 4 <= plainDown, $"{down} bytes down against {plainDown}");
        Assert.True(up * 4 <= plainUp, $"{up} bytes up against {plainUp}");
    }

    [Fact]
    public async Task TheDescribeDocument_ShowsEachMethodsCompression()
    {
        await using RpcServer server = await StartAsync(configure: o => o.EnableDescribe = true);
        await using RpcClient client = Client(server.Endpoints[0]);
        JsonElement[] methods = (await client.DescribeAsync("zip")).GetProperty("services")[0].GetProperty("methods").EnumerateArray().ToArray();
        string? Compression(string name) => methods.Single(m => m.GetProperty("name").GetString() == name)
            .TryGetProperty("compression", out JsonElement found) ? found.GetRawText() : null;

        Assert.Equal("""{"algorithm":"zstd","minSize":1024,"level":"Fastest","allowOverTls":false}""", Compression("Echo"));
        Assert.Equal("""{"algorithm":"gzip","minSize":1024,"level":"Fastest","allowOverTls":false}""", Compression("EchoGzip"));
        Assert.Equal("""{"algorithm":"brotli","minSize":1024,"level":"Optimal","allowOverTls":false}""", Compression("EchoBrotli"));
        Assert.Equal("""{"algorithm":"zstd","minSize":1024,"level":"Fastest","allowOverTls":true}""", Compression("EchoOverTls"));
        Assert.Null(Compression("EchoPlain")); // [Compress(RpcCompression.None)] over the interface's
    }

    [Fact]
    public async Task OverTls_OnlyAMethodThatOptsInIsCompressed()
    {
        await using Link link = await Link.OpenAsync(tls: true);
        (FaultProxy proxy, ICompressed zip) = (link.Proxy, link.Zip);

        (long Up, long Down) plain = await MeasureAsync(proxy, () => zip.EchoPlainAsync(s_records));
        (long Up, long Down) notOptedIn = await MeasureAsync(proxy, () => zip.EchoAsync(s_records));
        (long Up, long Down) optedIn = await MeasureAsync(proxy, () => zip.EchoOverTlsAsync(s_records));
        Assert.True(notOptedIn.Up * 10 > plain.Up * 9 && notOptedIn.Down * 10 > plain.Down * 9, $"{notOptedIn} against {plain}: compressed over TLS");
        Assert.True(optedIn.Up * 5 <= plain.Up && optedIn.Down * 5 <= plain.Down, $"{optedIn} against {plain}");
    }

    [Fact]
    public async Task TheServerSendsItsSettings_AndCompressesOnlyWhatTheClientAnnounced()
    {
        await using RpcServer server = await StartAsync();
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(new object[] { s_records }, s_json);

        // A client that reads every algorithm: the settings say the server reads gzip, Brotli and zstd (bits 1-3).
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 0b1111))
        {
            Assert.Equal(new byte[] { 1, 0, 0b1110, 0, 0, 0 }, raw.ServerSettings);
            await raw.WriteAsync(RawConnection.Frame(1, 1, RawConnection.RequestBody("zip/Echo", json)));
            (byte type, _, _, byte[] body) = await raw.ReadFrameAsync();
            Assert.Equal(2, type);
            Assert.Equal(3, raw.LastEncoding);
            byte[] inflated = new byte[BinaryPrimitives.ReadUInt32LittleEndian(body)];
            Assert.Null(FrameCompression.TryDecompress(3, body, inflated));
            Assert.Equal(s_records, JsonSerializer.Deserialize<Reading[]>(inflated, s_json));

            // A small result (under MinSize) travels as it is.
            await raw.WriteAsync(RawConnection.Frame(1, 2, RawConnection.RequestBody("zip/Echo", "[[]]")));
            (_, _, _, body) = await raw.ReadFrameAsync();
            Assert.Equal(0, raw.LastEncoding);
            Assert.Equal("[]", Encoding.UTF8.GetString(body));
        }

        // A client that reads only gzip gets gzip where the method says gzip, and zstd methods uncompressed.
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 0b0011))
        {
            await raw.WriteAsync(RawConnection.Frame(1, 1, RawConnection.RequestBody("zip/EchoGzip", json)));
            await raw.ReadFrameAsync();
            Assert.Equal(1, raw.LastEncoding);
            await raw.WriteAsync(RawConnection.Frame(1, 2, RawConnection.RequestBody("zip/Echo", json)));
            (_, _, _, byte[] body) = await raw.ReadFrameAsync();
            Assert.Equal(0, raw.LastEncoding);
            Assert.Equal(json.Length - 2, body.Length); // the result: the arguments' array without its brackets
        }

        // A client that predates compression (flags 0 or metadata only) never gets a compressed frame.
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 0b0001))
        {
            await raw.WriteAsync(RawConnection.Frame(1, 1, RawConnection.RequestBody("zip/EchoBrotli", json)));
            await raw.ReadFrameAsync();
            Assert.Equal(0, raw.LastEncoding);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task ACompressedRequest_IsInflatedForItsHandler(byte algorithm)
    {
        await using RpcServer server = await StartAsync();
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(new object[] { s_records }, s_json);
        byte[] compressed = new byte[json.Length];
        Assert.True(FrameCompression.TryCompress((RpcCompression)algorithm, Fastest, json, compressed, out int written));

        await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 0b0001);
        await raw.WriteAsync(RawConnection.Frame(1, 1, RawConnection.RequestBody("zip/EchoPlain", compressed[..written]), encoding: algorithm));
        (byte type, _, _, byte[] body) = await raw.ReadFrameAsync();
        Assert.Equal(2, type);
        Assert.Equal(s_records, JsonSerializer.Deserialize<Reading[]>(body, s_json));
    }

    [Fact]
    public async Task Bombs_LiesAndUnknownAlgorithms_AreRefused_AndTheConnectionGoesOn()
    {
        await using RpcServer server = await StartAsync(configure: o => o.Limits.MaxFrameSize = 1024 * 1024);
        await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 0b1111);

        // 64 MiB of zeros in a few hundred kilobytes, declared as what they are: refused before anything is inflated.
        byte[] zeros = new byte[64 * 1024 * 1024];
        byte[] bomb = new byte[1024 * 1024];
        Assert.True(FrameCompression.TryCompress(RpcCompression.Zstd, Fastest, zeros, bomb, out int written));
        bomb = bomb[..written];
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await raw.WriteAsync(RawConnection.Frame(1, 1, RawConnection.RequestBody("zip/EchoPlain", bomb), encoding: 3));
        (byte type, byte flags, _, byte[] body) = await raw.ReadFrameAsync();
        Assert.Equal(3, type);
        Assert.Equal(1, flags & 1); // not processed
        (RpcStatusCode code, string message) = RawConnection.ParseError(body);
        Assert.Equal(RpcStatusCode.ResourceExhausted, code);
        Assert.Contains("inflates to 67108864 bytes, over the maximum frame size of 1048576", message);
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 8 * 1024 * 1024, "the bomb was not inflated");

        // The same bomb claiming 1 KiB: inflated into 1 KiB at most, then refused as corrupt.
        BinaryPrimitives.WriteUInt32LittleEndian(bomb, 1024);
        await raw.WriteAsync(RawConnection.Frame(1, 2, RawConnection.RequestBody("zip/EchoPlain", bomb), encoding: 3));
        (_, _, _, body) = await raw.ReadFrameAsync();
        (code, message) = RawConnection.ParseError(body);
        Assert.Equal(RpcStatusCode.Internal, code);
        Assert.Contains("Malformed request frame: a Zstd body that inflates past its declared 1024 bytes", message);

        // An algorithm nobody announced, and a body too short for its length.
        await raw.WriteAsync(RawConnection.Frame(1, 3, RawConnection.RequestBody("zip/EchoPlain", "[[]]"), encoding: 9));
        (_, _, _, body) = await raw.ReadFrameAsync();
        Assert.Equal((RpcStatusCode.Internal, "Malformed request frame: a body compressed with algorithm 9, which this side did not announce."),
            RawConnection.ParseError(body));
        await raw.WriteAsync(RawConnection.Frame(1, 4, RawConnection.RequestBody("zip/EchoPlain", new byte[] { 1, 2 }), encoding: 1));
        (_, _, _, body) = await raw.ReadFrameAsync();
        Assert.Contains("shorter than its 4-byte length", RawConnection.ParseError(body).Message);

        // The connection still serves.
        await raw.WriteAsync(RawConnection.Frame(1, 5, RawConnection.RequestBody("zip/EchoPlain", "[[]]")));
        (type, _, _, body) = await raw.ReadFrameAsync();
        Assert.Equal(2, type);
        Assert.Equal("[]", Encoding.UTF8.GetString(body));
    }

    [Fact]
    public async Task AClientRefusesACompressedResponseThatInflatesPastItsMaximumFrame()
    {
        // A server that answers every request with a zstd bomb (64 MiB declared), as a hostile server could.
        byte[] bomb = new byte[1024 * 1024];
        Assert.True(FrameCompression.TryCompress(RpcCompression.Zstd, Fastest, new byte[64 * 1024 * 1024], bomb, out int written));
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        Task serving = ServeBombsAsync(listener, bomb[..written]);
        var endpoint = new RpcEndpoint("127.0.0.1", ((System.Net.IPEndPoint)listener.LocalEndpoint).Port);
        var client = new RpcClient(new RpcClientOptions { Endpoints = { endpoint }, Connection = { MaxFrameSize = 1024 * 1024 } });
        RpcException refused = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<ICompressed>().EchoPlainAsync(s_records));
        await client.DisposeAsync(); // the fake server reads until the client closes
        Assert.Equal(RpcStatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("inflates to 67108864 bytes, over the maximum frame size of 1048576 bytes (RpcClientOptions.Connection.MaxFrameSize)",
            refused.Message);
        listener.Stop();
        await serving;
    }

    /// <summary>Speaks the server's side of the handshake, then answers each request with <paramref name="bomb"/>, zstd-compressed.</summary>
    private static async Task ServeBombsAsync(System.Net.Sockets.TcpListener listener, byte[] bomb)
    {
        try
        {
            using System.Net.Sockets.TcpClient tcp = await listener.AcceptTcpClientAsync();
            System.Net.Sockets.NetworkStream stream = tcp.GetStream();
            await stream.ReadExactlyAsync(new byte[8]);
            byte[] hello = new byte[8 + SettingsFrame.Length];
            RpcGen.Protocol.Preface.Write(hello, 2);
            SettingsFrame.Write(hello.AsSpan(8), ProtocolConstants.AllCompression);
            await stream.WriteAsync(hello);
            byte[] header = new byte[12];
            while (true)
            {
                await stream.ReadExactlyAsync(header);
                await stream.ReadExactlyAsync(new byte[BinaryPrimitives.ReadUInt32LittleEndian(header)]);
                if (header[4] == 1)
                {
                    await stream.WriteAsync(RawConnection.Frame(2, BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8)), bomb, encoding: 3));
                }
            }
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or EndOfStreamException)
        {
            // The client closed.
        }
    }
}

using System.Buffers.Binary;
using System.Text;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

[RpcService("meta")]
public interface IMeta
{
    /// <summary>Describes the request headers it saw; answers with a header and a trailer.</summary>
    Task<string> DescribeAsync(CancellationToken ct = default);

    /// <summary>Writes a header, then fails with an RpcException that carries a trailer.</summary>
    Task FailAsync(CancellationToken ct = default);

    /// <summary>Writes <paramref name="bytes"/> bytes of trailers.</summary>
    Task BigAsync(int bytes, CancellationToken ct = default);

    Task<bool> HasContextAsync(CancellationToken ct = default);
}

public sealed class Meta : IMeta
{
    public int Calls;
    public RpcCallContext? LastContext;
    public IReadOnlyList<string> LastTenants = Array.Empty<string>();

    public Task<string> DescribeAsync(CancellationToken ct = default)
    {
        Interlocked.Increment(ref Calls);
        RpcCallContext context = RpcCallContext.Current!;
        LastContext = context;
        LastTenants = context.RequestHeaders.GetValues("tenant");
        context.ResponseHeaders.Add("served-by", "meta-1");
        context.ResponseTrailers.Add("cost-bin", new byte[] { 1, 2, 3 });
        context.ResponseTrailers.Add("cost", "7");
        // W3C trace context is left out: the client adds it whenever any listener samples RpcGen's activities, which a test
        // running beside this one may have started.
        return Task.FromResult(string.Join(";", context.RequestHeaders
            .Where(e => e.Key is not ("traceparent" or "tracestate"))
            .Select(e => e.IsBinary ? $"{e.Key}=[{string.Join(",", e.ValueBytes!)}]" : $"{e.Key}={e.Value}")));
    }

    public Task FailAsync(CancellationToken ct = default)
    {
        Interlocked.Increment(ref Calls);
        RpcCallContext.Current!.ResponseHeaders.Add("served-by", "meta-1");
        var trailers = new RpcMetadata { { "reason", "quota" } };
        throw new RpcException(RpcStatusCode.FailedPrecondition, "over quota") { Trailers = trailers };
    }

    public Task BigAsync(int bytes, CancellationToken ct = default)
    {
        Interlocked.Increment(ref Calls);
        RpcCallContext.Current!.ResponseTrailers.Add("big-bin", new byte[bytes]);
        return Task.CompletedTask;
    }

    public Task<bool> HasContextAsync(CancellationToken ct = default) => Task.FromResult(RpcCallContext.Current is not null);
}

/// <summary>Request headers, response headers and trailers, end to end over TCP, and against a client that predates them.</summary>
public sealed class MetadataTests
{
    private static async Task<(RpcServer Server, Meta Meta)> StartAsync()
    {
        var meta = new Meta();
        var server = new RpcServer();
        server.Map<IMeta>(meta);
        await server.StartAsync();
        return (server, meta);
    }

    [Fact]
    public async Task Headers_TravelBothWays_DefaultsThenScopesOutermostFirst_TextAndBinary()
    {
        (RpcServer server, Meta meta) = await StartAsync();
        await using (server)
        {
            var options = new RpcClientOptions { Endpoints = { server.Endpoints[0] } };
            options.DefaultRequestHeaders.Add("Client", "billing"); // keys are case-insensitive: sent lower-case
            await using var client = new RpcClient(options);
            IMeta proxy = client.CreateProxy<IMeta>();

            using (RpcCallScope outer = RpcCallScope.Begin(new RpcMetadata { { "tenant", "acme" }, { "tenant", "beta" } }))
            {
                using (RpcCallScope inner = RpcCallScope.Begin())
                {
                    inner.RequestHeaders.Add("trace-bin", new byte[] { 0, 255, 7 });
                    Assert.Equal("client=billing;tenant=acme;tenant=beta;trace-bin=[0,255,7]", await proxy.DescribeAsync());
                    Assert.Equal("meta-1", inner.ResponseHeaders!.GetValue("Served-By"));
                    Assert.Equal("7", inner.ResponseTrailers!.GetValue("cost"));
                    Assert.Equal(new byte[] { 1, 2, 3 }, inner.ResponseTrailers.GetBytes("cost-bin"));
                    Assert.True(inner.ResponseHeaders.IsReadOnly);
                    Assert.Null(outer.ResponseHeaders); // each scope keeps what its own calls received
                }

                Assert.Equal("client=billing;tenant=acme;tenant=beta", await proxy.DescribeAsync());
                Assert.Equal(new[] { "acme", "beta" }, meta.LastTenants);
            }

            Assert.Null(RpcCallScope.Current);
            Assert.Equal("client=billing", await proxy.DescribeAsync());

            // The handler's metadata is sealed once the response is sent: writing it later is a mistake, not a lost header;
            // and a context kept past its call reads as empty, never as the pooled state's next call.
            Assert.Throws<InvalidOperationException>(() => meta.LastContext!.ResponseHeaders.Add("late", "x"));
            Assert.Throws<InvalidOperationException>(() => meta.LastContext!.RequestHeaders.Add("late", "x"));
            Assert.Empty(meta.LastContext!.RequestHeaders);
        }
    }

    [Fact]
    public async Task Errors_CarryHeadersAndTrailers_FromTheContextAndTheException()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } }))
        {
            using RpcCallScope scope = RpcCallScope.Begin();
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IMeta>().FailAsync());
            Assert.Equal((RpcStatusCode.FailedPrecondition, "over quota"), (error.StatusCode, error.Message));
            Assert.Equal("meta-1", error.ResponseHeaders!.GetValue("served-by"));
            Assert.Equal("quota", error.Trailers!.GetValue("reason"));
            Assert.Equal("quota", scope.ResponseTrailers!.GetValue("reason"));
        }
    }

    [Fact]
    public async Task Limits_AreRefusedWithResourceExhausted_AndTheHandlerDoesNotRun()
    {
        (RpcServer server, Meta meta) = await StartAsync();
        await using (server)
        {
            // Over the client's own limit: nothing is sent.
            await using (var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } }))
            {
                using RpcCallScope scope = RpcCallScope.Begin();
                scope.RequestHeaders.Add("blob-bin", new byte[9000]);
                RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IMeta>().DescribeAsync());
                Assert.Equal(RpcStatusCode.ResourceExhausted, error.StatusCode);
                Assert.Contains("MaxMetadataSize", error.Message, StringComparison.Ordinal);
            }

            // Within a client's raised limit but over the server's 8 KiB: refused, not processed.
            await using (var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] }, Connection = { MaxMetadataSize = 60_000 } }))
            {
                using (RpcCallScope scope = RpcCallScope.Begin())
                {
                    scope.RequestHeaders.Add("blob-bin", new byte[9000]);
                    RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IMeta>().DescribeAsync());
                    Assert.Equal(RpcStatusCode.ResourceExhausted, error.StatusCode);
                    Assert.True(error.NotProcessed);
                    Assert.Contains("RpcServerOptions.Limits.MaxMetadataSize", error.Message, StringComparison.Ordinal);
                }

                // A response whose metadata is over the server's limit fails the call instead of being cut.
                RpcException big = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IMeta>().BigAsync(9000));
                Assert.Equal(RpcStatusCode.ResourceExhausted, big.StatusCode);
                await client.CreateProxy<IMeta>().BigAsync(100); // and a small one goes through
            }

            Assert.Equal(2, meta.Calls); // the two BigAsync calls; the refused requests never ran
        }
    }

    [Fact]
    public async Task ClientThatPredatesMetadata_GetsThePlainResponse_AndItsRequestsWithoutMetadataAreUnchanged()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        {
            // A version-1 client without the metadata bit: the handler's headers are not sent, the body is the bare result.
            await using RawConnection old = await RawConnection.ConnectAsync(server.Endpoints[0]);
            await old.WriteAsync(RawConnection.Frame(1, 1, RawConnection.RequestBody("meta/Describe", "[]")));
            (byte type, byte flags, _, byte[] body) = await old.ReadFrameAsync();
            Assert.Equal((2, 2), (type, flags)); // Response, LoadReport only
            Assert.Equal("\"\"", Encoding.UTF8.GetString(body));

            // A client that reads metadata: flag 32, then headers and trailers in front of the result.
            await using RawConnection current = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 1);
            byte[] request = MetadataRequest("meta/Describe", ("tenant", "acme"));
            await current.WriteAsync(RawConnection.Frame(1, 1, request));
            (type, flags, _, body) = await current.ReadFrameAsync();
            Assert.Equal((2, 2 | 32), (type, flags));
            Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(body));                     // one header:
            Assert.Equal("served-by", Encoding.ASCII.GetString(body, 4, 9));                     // served-by: meta-1
            int trailers = 2 + 2 + 9 + 2 + 6;
            Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(trailers)));     // two trailers
            Assert.EndsWith("\"tenant=acme\"", Encoding.UTF8.GetString(body), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task MalformedRequestMetadata_IsRefused_AndTheServerKeepsServing()
    {
        (RpcServer server, Meta meta) = await StartAsync();
        await using (server)
        {
            await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 1);
            await raw.WriteAsync(RawConnection.Frame(1, 1, MetadataRequest("meta/Describe", ("Bad Key", "x"))));
            (byte type, _, _, byte[] body) = await raw.ReadFrameAsync();
            Assert.Equal(3, type);
            (RpcStatusCode code, string message) = RawConnection.ParseError(body);
            Assert.Equal(RpcStatusCode.Internal, code);
            Assert.Contains("metadata key 'Bad Key'", message, StringComparison.Ordinal);

            await raw.WriteAsync(RawConnection.Frame(1, 2, MetadataRequest("meta/Describe", ("text", "caf\u00e9"))));
            (type, _, _, body) = await raw.ReadFrameAsync();
            Assert.Contains("not printable ASCII", RawConnection.ParseError(body).Message, StringComparison.Ordinal);

            await raw.WriteAsync(RawConnection.Frame(1, 3, MetadataRequest("meta/Describe", ("ok", "fine"))));
            (type, _, _, body) = await raw.ReadFrameAsync();
            Assert.Equal(2, type);
            Assert.Equal(1, meta.Calls);
        }
    }

    [Fact]
    public async Task EveryHandlerHasACallContext_EvenWithoutADeadline()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] }, Resilience = { DefaultTimeout = TimeSpan.Zero } }))
        {
            Assert.True(await client.CreateProxy<IMeta>().HasContextAsync());
        }
    }

    [Fact]
    public void Keys_AreCheckedWhenAdded_WithMessagesThatSayWhatToDo()
    {
        var metadata = new RpcMetadata { { "Tenant", "acme" } };
        Assert.Equal("tenant", metadata[0].Key);
        Assert.Contains("'é' is not allowed", Record(() => metadata.Add("café", "x")), StringComparison.Ordinal);
        Assert.Contains("printable ASCII; put other text in a 'name-bin' key", Record(() => metadata.Add("name", "Zoë")), StringComparison.Ordinal);
        Assert.Contains("reserved for RpcGen", Record(() => metadata.Add("rpcgen-trace", "1")), StringComparison.Ordinal);
        Assert.Contains("takes a byte[] value", Record(() => metadata.Add("id-bin", "1")), StringComparison.Ordinal);
        Assert.Contains("needs a key ending in '-bin'", Record(() => metadata.Add("id", new byte[1])), StringComparison.Ordinal);
        Assert.Contains("1 to 255 characters", Record(() => metadata.Add(new string('k', 256), "x")), StringComparison.Ordinal);
        Assert.Equal(1, metadata.Remove("TENANT"));

        static string Record(Action action) => Assert.Throws<ArgumentException>(action).Message;
    }

    /// <summary>A request body with metadata entries written byte by byte (not with RpcGen's encoder).</summary>
    private static byte[] MetadataRequest(string method, params (string Key, string Value)[] entries)
    {
        var body = new List<byte>();
        body.AddRange(new byte[4]); // no timeout
        body.AddRange(BitConverter.GetBytes((ushort)method.Length));
        body.AddRange(Encoding.ASCII.GetBytes(method));
        body.AddRange(BitConverter.GetBytes((ushort)entries.Length));
        foreach ((string key, string value) in entries)
        {
            byte[] k = Encoding.UTF8.GetBytes(key), v = Encoding.UTF8.GetBytes(value);
            body.AddRange(BitConverter.GetBytes((ushort)k.Length));
            body.AddRange(k);
            body.AddRange(BitConverter.GetBytes((ushort)v.Length));
            body.AddRange(v);
        }

        body.AddRange("[]"u8.ToArray());
        return body.ToArray();
    }
}

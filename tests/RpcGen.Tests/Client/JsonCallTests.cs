using System.Text;
using System.Text.Json;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Client;

/// <summary>Calls without generated code (RpcClient.InvokeJsonAsync / StreamJsonAsync), and a scope's timeout.</summary>
public sealed class JsonCallTests
{
    private static RpcMethodDescriptor Method<TService>(string name) where TService : class =>
        RpcServiceRegistry.GetRequiredDescriptor<TService>().Methods.Single(m => m.Name == name);

    private static ReadOnlyMemory<byte> Json(string json) => Encoding.UTF8.GetBytes(json);

    private static async Task<(RpcServer Server, RpcClient Client)> StartAsync<TService>(TService service) where TService : class
    {
        var server = new RpcServer(new RpcServerOptions());
        server.Map(service);
        await server.StartAsync();
        return (server, new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } }));
    }

    [Fact]
    public async Task UnaryCalls_TakeNamedOrPositionalArguments_AndReturnJson()
    {
        var calculator = new Calculator("json");
        (RpcServer server, RpcClient client) = await StartAsync<ICalculator>(calculator);
        await using (server)
        await using (client)
        {
            Assert.Equal(5, (await client.InvokeJsonAsync(Method<ICalculator>("Add"), Json("{\"b\":3,\"a\":2}"))).GetInt32());
            Assert.Equal(5, (await client.InvokeJsonAsync(Method<ICalculator>("Add"), Json("[2,3]"))).GetInt32());
            Assert.Equal(15, (await client.InvokeJsonAsync(Method<ICalculator>("AddWithDefault"), Json("{\"a\":5}"))).GetInt32());
            JsonElement quote = await client.InvokeJsonAsync(Method<ICalculator>("Quote"), Json("{\"request\":{\"symbol\":\"X\",\"quantity\":2}}"));
            Assert.Equal(25m, quote.GetProperty("price").GetDecimal());
            Assert.Equal(JsonValueKind.Undefined, (await client.InvokeJsonAsync(Method<ICalculator>("Reset"), default)).ValueKind);
            Assert.Equal(4, calculator.Calls); // Add twice, Quote, Reset (AddWithDefault counts nothing)
        }
    }

    [Theory]
    [InlineData("{\"a\":2,", "the arguments are not valid JSON")]
    [InlineData("42", "neither a JSON array nor a JSON object")]
    [InlineData("{\"a\":2}", "required argument 'b' is missing")]
    [InlineData("{\"a\":2,\"b\":3,\"c\":1}", "'c' is not an argument of this method")]
    [InlineData("{\"a\":\"x\",\"b\":3}", "argument 'a' could not be read as Int32")]
    public async Task BadArguments_FailWithInvalidArgument_AndNoHandlerRuns(string json, string problem)
    {
        var calculator = new Calculator("json");
        (RpcServer server, RpcClient client) = await StartAsync<ICalculator>(calculator);
        await using (server)
        await using (client)
        {
            RpcException error = await Assert.ThrowsAsync<RpcException>(
                () => client.InvokeJsonAsync(Method<ICalculator>("Add"), Json(json)).AsTask());
            Assert.Equal(RpcStatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains(problem, error.Message, StringComparison.Ordinal);
            Assert.Equal(0, calculator.Calls);
        }
    }

    [Theory]
    [InlineData("{\"a\":2,", "the arguments are not valid JSON")]
    [InlineData("{\"a\":2}[]", "the arguments are not valid JSON")]
    [InlineData("42", "neither a JSON array nor a JSON object")]
    public async Task MalformedArguments_FailBeforeAnythingIsSent(string json, string problem)
    {
        // No server: a call that were sent would fail Unavailable; checked arguments fail InvalidArgument at once.
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { new RpcEndpoint("127.0.0.1", 1) } });
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.InvokeJsonAsync(Method<ICalculator>("Add"), Json(json)).AsTask());
        Assert.Equal(RpcStatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Streams_AllShapes_GoAsJson()
    {
        var prices = new Prices();
        (RpcServer server, RpcClient client) = await StartAsync<IPrices>(prices);
        await using (server)
        await using (client)
        {
            var ticks = new List<RpcJsonItem>();
            await foreach (RpcJsonItem item in client.StreamJsonAsync(Method<IPrices>("Watch"), Json("{\"symbol\":\"ACME\",\"count\":3}")))
            {
                ticks.Add(item);
            }

            Assert.Equal(3, ticks.Count);
            Assert.All(ticks, t => Assert.Null(t.Position));
            Assert.All(ticks, t => Assert.Equal("ACME", t.Value.GetProperty("symbol").GetString()));

            JsonElement summary = await client.InvokeJsonAsync(
                Method<IPrices>("Upload"), default, Elements("{\"symbol\":\"A\",\"quantity\":2}", "{\"symbol\":\"B\",\"quantity\":3}"));
            Assert.Equal(2, summary.GetProperty("trades").GetInt32());

            var echoed = new List<string>();
            IAsyncEnumerable<JsonElement> input = Elements("{\"symbol\":\"A\",\"quantity\":1}");
            await foreach (RpcJsonItem item in client.StreamJsonAsync(Method<IPrices>("Echo"), default, input))
            {
                echoed.Add(item.Value.GetProperty("symbol").GetString()!);
            }

            Assert.Equal(new[] { "A" }, echoed);
            await Assert.ThrowsAsync<ArgumentException>(() => client.InvokeJsonAsync(Method<IPrices>("Upload"), default).AsTask());
            await Assert.ThrowsAsync<ArgumentException>(async () =>
            {
                await foreach (RpcJsonItem item in client.StreamJsonAsync(Method<IPrices>("Echo"), default))
                {
                }
            });
        }
    }

    [Fact]
    public async Task ResumableStreams_CarryPositions_AndResumeByName()
    {
        var events = new Events { Burst = 20 };
        await using var server = new RpcServer(new RpcServerOptions());
        server.Map<IEvents>(events);
        await server.StartAsync();
        await using FaultProxy proxy = FaultProxy.Start(server.Endpoints[0]);
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { proxy.Endpoint } });

        var positions = new List<long>();
        await foreach (RpcJsonItem item in client.StreamJsonAsync(Method<IEvents>("Tail"), Json("{\"topic\":\"t\",\"after\":null,\"end\":60}")))
        {
            positions.Add(item.Position!.Value);
            Assert.Equal(item.Position, item.Value.GetProperty("offset").GetInt64());
            if (positions.Count % 20 == 0 && positions.Count < 60)
            {
                proxy.ResetAll(); // the handler sent its burst and waits: the stream breaks and resumes from the last position
            }
        }

        Assert.Equal(Enumerable.Range(1, 60).Select(i => (long)i), positions);
        Assert.Equal(new long?[] { null, 20, 40 }, events.ResumedFrom.Take(3));

        // Positional arguments resume too: the [ResumeFrom] element of the array is replaced.
        positions.Clear();
        await foreach (RpcJsonItem item in client.StreamJsonAsync(Method<IEvents>("Tail"), Json("[\"t\",null,40]")))
        {
            positions.Add(item.Position!.Value);
            if (positions.Count == 20)
            {
                proxy.ResetAll();
            }
        }

        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), positions);
        Assert.Equal(new long?[] { null, 20 }, events.ResumedFrom.Skip(3).Take(2));
    }

    [Fact]
    public void HashKeys_FromJson_MatchWhatAProxyComputesFromTypedValues()
    {
        JsonSerializerOptions defaults = RpcGen.Serialization.RpcDefaults.CreateSerializerOptions();
        var guid = Guid.NewGuid();
        RpcMethodDescriptor method = Descriptor(
            ("user", "string"), ("n", "int"), ("id", "System.Guid"), ("maybe", "long?"), ("q", "RpcGen.Tests.Support.QuoteRequest"));
        ulong Hash(string json) => RpcJsonArguments.Create(method, Json(json)).GetHashKey();
        ulong Typed<T>(T value) => RpcHash.Of(value, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)defaults.GetTypeInfo(typeof(T)));

        ulong expected = RpcHash.Combine(RpcHash.Combine(RpcHash.Combine(RpcHash.Combine(
            Typed("ann"), Typed(7)), Typed(guid)), Typed<long?>(9)), Typed(new QuoteRequest("X", 2)));
        Assert.Equal(expected, Hash($"{{\"user\":\"ann\",\"n\":7,\"id\":\"{guid}\",\"maybe\":9,\"q\":{{\"symbol\":\"X\",\"quantity\":2}}}}"));
        Assert.Equal(expected, Hash($"[\"ann\",7,\"{guid}\",9,{{\"symbol\":\"X\",\"quantity\":2}}]"));
        string spaced = $"{{ \"q\" : {{ \"symbol\" : \"X\", \"quantity\" : 2 }}, \"maybe\":9, \"id\":\"{guid}\", \"n\":7, \"user\":\"an\\u006e\" }}";
        Assert.Equal(expected, Hash(spaced));
        Assert.NotEqual(expected, Hash($"{{\"user\":\"bob\",\"n\":7,\"id\":\"{guid}\",\"maybe\":9,\"q\":{{\"symbol\":\"X\",\"quantity\":2}}}}"));

        // Arguments left out hash as null, whichever form they take (and none at all).
        Assert.Equal(Hash("{}"), Hash(""));
        Assert.Equal(Hash("{}"), Hash("[]"));
        Assert.Equal(Hash("{\"user\":\"ann\"}"), Hash("[\"ann\"]"));
        Assert.NotEqual(Hash("{}"), Hash("{\"user\":\"ann\"}"));

        RpcException error = Assert.Throws<RpcException>(() => Hash("{\"user\":\"ann\",\"n\":\"seven\"}"));
        Assert.Equal(RpcStatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("argument 'n' could not be read as int", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HashKeys_OfEveryRawType_MatchTheTypedHash()
    {
        JsonSerializerOptions defaults = RpcGen.Serialization.RpcDefaults.CreateSerializerOptions();
        ulong Typed<T>(T value) => RpcHash.Of(value, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)defaults.GetTypeInfo(typeof(T)));
        ulong Hash(string type, string json) => RpcJsonArguments.Create(Descriptor(("k", type)), Json("{\"k\":" + json + "}")).GetHashKey();
        Assert.Equal(Typed(-5L), Hash("long", "-5"));
        Assert.Equal(Typed(5u), Hash("uint", "5"));
        Assert.Equal(Typed(5ul), Hash("ulong", "5"));
        Assert.Equal(Typed((short)-5), Hash("short", "-5"));
        Assert.Equal(Typed((ushort)5), Hash("ushort", "5"));
        Assert.Equal(Typed((byte)5), Hash("byte", "5"));
        Assert.Equal(Typed((sbyte)-5), Hash("sbyte", "-5"));
        Assert.Equal(Typed(true), Hash("bool", "true"));
        Assert.Equal(Typed(1.5f), Hash("float", "1.5"));
        Assert.Equal(Typed(1.5d), Hash("double", "1.5"));
        Assert.Equal(Typed('x'), Hash("char", "\"x\""));
        Assert.Equal(Typed("x"), Hash("string?", "\"x\""));
        Assert.Equal(Typed(new DateTime(2026, 12, 6, 10, 0, 0)), Hash("System.DateTime", "\"2026-12-06T10:00:00\""));
        Assert.Equal(Typed(TimeSpan.FromSeconds(90)), Hash("System.TimeSpan", "\"00:01:30\""));
        Assert.Equal(Typed(new DateOnly(2026, 12, 6)), Hash("System.DateOnly", "\"2026-12-06\""));
        Assert.Equal(Typed(new TimeOnly(10, 30)), Hash("System.TimeOnly", "\"10:30:00\""));
        Assert.Equal(Typed<string?>(null), Hash("string", "null"));
    }

    [Fact]
    public async Task AScopesTimeout_IsTheCallsDeadline_AndReachesTheHandler()
    {
        var calculator = new Calculator("json");
        (RpcServer server, RpcClient client) = await StartAsync<ICalculator>(calculator);
        await using (server)
        await using (client)
        {
            ICalculator proxy = client.CreateProxy<ICalculator>();
            Assert.Equal(5, await proxy.AddAsync(2, 3)); // connected: the deadline below is all the handler's
            using (RpcCallScope scope = RpcCallScope.Begin())
            {
                scope.Timeout = TimeSpan.FromMilliseconds(300);
                RpcException error = await Assert.ThrowsAsync<RpcException>(() => proxy.WaitForCancellationAsync(30_000));
                Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
                Assert.True(calculator.HandlerStarted.Task.IsCompleted);
                Assert.True(await calculator.HandlerCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
                Assert.Equal(5, await proxy.AddAsync(2, 3)); // a quick call in the same scope is not affected
            }

            Assert.Throws<ArgumentOutOfRangeException>(() => RpcCallScope.Begin().Timeout = TimeSpan.Zero);
        }
    }

    private static RpcMethodDescriptor Descriptor(params (string Name, string Type)[] parameters)
    {
        var method = new RpcMethodDescriptor(0, "M", "MAsync", parameters.Select(p => new RpcParameterDescriptor(p.Name, p.Type, false)).ToArray(),
            "int", RpcReturnKind.TaskOfT, false, 0, LoadBalanceStrategy.ConsistentHash, hashKeyParameters: parameters.Select(p => p.Name).ToArray());
        _ = new RpcServiceDescriptor("hash", typeof(object), new[] { method });
        return method;
    }

    private static async IAsyncEnumerable<JsonElement> Elements(params string[] items)
    {
        foreach (string item in items)
        {
            await Task.Yield();
            yield return JsonDocument.Parse(item).RootElement.Clone();
        }
    }
}

using System.Buffers.Binary;
using System.Text;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Protocol;

/// <summary>What a server does with frames no generated client would send. It answers, and keeps serving.</summary>
public sealed class WireProtocolTests
{
    private const byte Request = 1;
    private const byte Response = 2;
    private const byte Error = 3;
    private const byte Cancel = 4;
    private const byte Ping = 5;
    private const byte Pong = 6;
    private const byte GoAway = 7;

    private static async Task<(RpcServer Server, Calculator Calculator)> StartAsync(Action<RpcServerOptions>? configure = null)
    {
        var options = new RpcServerOptions();
        configure?.Invoke(options);
        var server = new RpcServer(options);
        var calculator = new Calculator("raw");
        server.Map<ICalculator>(calculator);
        await server.StartAsync();
        return (server, calculator);
    }

    private static async Task<(RpcStatusCode Code, string Message)> ExpectErrorAsync(RawConnection raw, uint callId)
    {
        (byte type, _, uint id, byte[] body) = await raw.ReadFrameAsync();
        Assert.Equal(Error, type);
        Assert.Equal(callId, id);
        return RawConnection.ParseError(body);
    }

    private static async Task<string> ExpectResponseAsync(RawConnection raw, uint callId)
    {
        (byte type, _, uint id, byte[] body) = await raw.ReadFrameAsync();
        Assert.True(type == Response, type == Error ? RawConnection.ParseError(body).ToString() : $"frame type {type}");
        Assert.Equal(callId, id);
        return Encoding.UTF8.GetString(body);
    }

    [Fact]
    public async Task ValidRequest_GetsJsonResult()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(RawConnection.Frame(Request, 1, RawConnection.RequestBody("calc/Add", "[2,3]")));
            Assert.Equal("5", await ExpectResponseAsync(raw, 1));
            Assert.Equal((1u, (ushort)0xFFFF), raw.LastLoadReport); // this call was in flight; no utilization reported

            server.ReportUtilization(0.25);
            await raw.WriteAsync(RawConnection.Frame(Request, 2, RawConnection.RequestBody("calc/Add", "[2,3]")));
            Assert.Equal("5", await ExpectResponseAsync(raw, 2));
            Assert.Equal((1u, (ushort)2500), raw.LastLoadReport);
        }
    }

    [Fact]
    public async Task TheExampleInDocsProtocolMd_IsExactlyWhatTheServerSpeaks()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 0x0f))
        {
            Assert.Equal("01000e000000", Convert.ToHexString(raw.ServerSettings!).ToLowerInvariant());
            byte[] request = Convert.FromHexString(
                "150000000100000001000000" + "f4010000" + "0800" + "63616c632f416464" + "0000" + "5b322c335d");
            await raw.WriteAsync(request);
            byte[] response = await raw.ReadExactlyAsync(19);
            Assert.Equal("07000000020200000100000001000000ffff35", Convert.ToHexString(response).ToLowerInvariant());
        }
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"a\":1}")]
    [InlineData("[1,\"two\"]")]
    [InlineData("[1,")]
    [InlineData("[1,2")]
    public async Task UndecodableArguments_AreInvalidArgument_AndTheConnectionGoesOn(string payload)
    {
        (RpcServer server, Calculator calculator) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(RawConnection.Frame(Request, 1, RawConnection.RequestBody("calc/Add", payload)));
            (RpcStatusCode code, string message) = await ExpectErrorAsync(raw, 1);
            Assert.Equal(RpcStatusCode.InvalidArgument, code);
            Assert.Contains("calc/Add", message, StringComparison.Ordinal);
            Assert.Equal(0, calculator.Calls);

            await raw.WriteAsync(RawConnection.Frame(Request, 2, RawConnection.RequestBody("calc/Add", "[2,3]")));
            Assert.Equal("5", await ExpectResponseAsync(raw, 2));
        }
    }

    [Fact]
    public async Task MissingRequiredArgument_IsInvalidArgument_NamingIt()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(RawConnection.Frame(Request, 1, RawConnection.RequestBody("calc/Add", "[2]")));
            (RpcStatusCode code, string message) = await ExpectErrorAsync(raw, 1);
            Assert.Equal(RpcStatusCode.InvalidArgument, code);
            Assert.Contains("'b' is missing", message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task MissingOptionalArgument_TakesItsDefault_AndExtraArgumentsAreIgnored()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(RawConnection.Frame(Request, 1, RawConnection.RequestBody("calc/AddWithDefault", "[5]")));
            Assert.Equal("15", await ExpectResponseAsync(raw, 1));
            await raw.WriteAsync(RawConnection.Frame(Request, 2, RawConnection.RequestBody("calc/AddWithDefault", "[5,1,{\"future\":[1,2]},\"x\"]")));
            Assert.Equal("6", await ExpectResponseAsync(raw, 2));
            await raw.WriteAsync(RawConnection.Frame(Request, 3, RawConnection.RequestBody("calc/Reset", string.Empty)));
            Assert.Equal(string.Empty, await ExpectResponseAsync(raw, 3));
        }
    }

    [Theory]
    [InlineData("calc/Add", "{\"a\":2,\"b\":3}", "5")]
    [InlineData("calc/Add", "{\"b\":3,\"a\":2}", "5")]
    [InlineData("calc/Add", "{\"\\u0061\":2,\"b\":3}", "5")]
    [InlineData("calc/AddWithDefault", "{\"a\":5}", "15")]
    [InlineData("calc/AddWithDefault", "{\"b\":1,\"a\":5}", "6")]
    [InlineData("calc/Quote", "{\"request\":{\"symbol\":\"X\",\"quantity\":2}}",
        "{\"symbol\":\"X\",\"price\":25.0,\"at\":\"2026-01-02T03:04:05+00:00\"}")]
    [InlineData("calc/Reset", "{}", "")]
    [InlineData("calc/Quote", "{\"request\":{\"request\":1,\"symbol\":\"X\",\"quantity\":2}}",
        "{\"symbol\":\"X\",\"price\":25.0,\"at\":\"2026-01-02T03:04:05+00:00\"}")] // a nested name is not an argument
    public async Task NamedArguments_AreReadByName_InAnyOrder(string method, string payload, string expected)
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(RawConnection.Frame(Request, 1, RawConnection.RequestBody(method, payload)));
            Assert.Equal(expected, await ExpectResponseAsync(raw, 1));
        }
    }

    [Theory]
    [InlineData("{\"a\":2}", "required argument 'b' is missing")]
    [InlineData("{\"a\":2,\"b\":3,\"c\":4}", "'c' is not an argument of this method")]
    [InlineData("{\"a\":2,\"b\":3,\"B\":3}", "'B' is not an argument of this method")]
    [InlineData("{\"a\":2,\"b\":3,\"a\":4}", "argument 'a' is given twice")]
    [InlineData("{\"a\":\"two\",\"b\":3}", "argument 'a' could not be read as Int32")]
    [InlineData("{\"a\":null,\"b\":3}", "argument 'a' could not be read as Int32")]
    [InlineData("{\"a\":2,\"b\":3}[]", "the arguments are not valid JSON")]
    [InlineData("{\"a\":2,\"b\":", "the arguments are not valid JSON")]
    [InlineData("\"a\"", "neither a JSON array nor a JSON object")]
    public async Task BadNamedArguments_AreInvalidArgument_NamingTheProblem_AndNoHandlerRuns(string payload, string problem)
    {
        (RpcServer server, Calculator calculator) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(RawConnection.Frame(Request, 1, RawConnection.RequestBody("calc/Add", payload)));
            (RpcStatusCode code, string message) = await ExpectErrorAsync(raw, 1);
            Assert.Equal(RpcStatusCode.InvalidArgument, code);
            Assert.Contains(problem, message, StringComparison.Ordinal);
            Assert.Equal(0, calculator.Calls);
        }
    }

    [Fact]
    public async Task AnArgumentsOwnProperties_DoNotCountAsArguments()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            // 70 properties inside the one argument: not 70 arguments (unknown members of the record are ignored).
            string inner = string.Join(",", Enumerable.Range(0, 70).Select(i => $"\"x{i}\":{i}"));
            string payload = "{\"request\":{\"symbol\":\"X\",\"quantity\":2," + inner + "}}";
            await raw.WriteAsync(RawConnection.Frame(Request, 1, RawConnection.RequestBody("calc/Quote", payload)));
            Assert.StartsWith("{\"symbol\":\"X\"", await ExpectResponseAsync(raw, 1), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task MoreThan64NamedArguments_AreRefused()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            string payload = "{" + string.Join(",", Enumerable.Range(0, 65).Select(i => $"\"p{i}\":{i}")) + "}";
            await raw.WriteAsync(RawConnection.Frame(Request, 1, RawConnection.RequestBody("calc/Add", payload)));
            (RpcStatusCode code, string message) = await ExpectErrorAsync(raw, 1);
            Assert.Equal(RpcStatusCode.InvalidArgument, code);
            Assert.Contains("more than 64 named arguments", message, StringComparison.Ordinal);

            payload = "{\"a\":1,\"b\":2," + string.Join(",", Enumerable.Range(0, 62).Select(i => $"\"p{i}\":{i}")) + "}";
            await raw.WriteAsync(RawConnection.Frame(Request, 2, RawConnection.RequestBody("calc/Add", payload)));
            Assert.Contains("'p0' is not an argument", (await ExpectErrorAsync(raw, 2)).Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task MalformedRequestFrame_IsAnError_NotACrash()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(RawConnection.Frame(Request, 1, new byte[] { 1, 2, 3 }));
            Assert.Equal(RpcStatusCode.Internal, (await ExpectErrorAsync(raw, 1)).Code);

            byte[] badName = RawConnection.RequestBody("calc/Add", "[1,2]");
            BinaryPrimitives.WriteUInt16LittleEndian(badName.AsSpan(4), 60000); // name longer than the frame
            await raw.WriteAsync(RawConnection.Frame(Request, 2, badName));
            Assert.Contains("out of bounds", (await ExpectErrorAsync(raw, 2)).Message, StringComparison.Ordinal);

            await raw.WriteAsync(RawConnection.Frame(99, 3, new byte[] { 1, 2, 3, 4 })); // unknown type: ignored
            await raw.WriteAsync(RawConnection.Frame(Request, 4, RawConnection.RequestBody("calc/Add", "[1,2]")));
            Assert.Equal("3", await ExpectResponseAsync(raw, 4));
        }
    }

    [Fact]
    public async Task OversizeFrame_IsRefusedBeforeBuffering_AndItsBodySkipped()
    {
        (RpcServer server, _) = await StartAsync(o => o.Limits.MaxFrameSize = 1024);
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            // Announce 1 GiB; send only the header first: the error must come before any body arrives.
            byte[] header = RawConnection.Frame(Request, 1, Array.Empty<byte>(), declaredLength: 1u << 30);
            await raw.WriteAsync(header);
            (RpcStatusCode code, string message) = await ExpectErrorAsync(raw, 1);
            Assert.Equal(RpcStatusCode.ResourceExhausted, code);
            Assert.Contains("1073741824", message, StringComparison.Ordinal);
            await raw.DisposeAsync();
        }

        (RpcServer server2, _) = await StartAsync(o => o.Limits.MaxFrameSize = 1024);
        await using (server2)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server2.Endpoints[0]))
        {
            // A 5000-byte body is skipped as it streams past; the next frame is read normally.
            byte[] big = RawConnection.Frame(Request, 1, RawConnection.RequestBody("calc/EchoSize", "[\"" + new string('x', 5000) + "\"]"));
            await raw.WriteAsync(big.Concat(RawConnection.Frame(Request, 2, RawConnection.RequestBody("calc/Add", "[1,1]"))).ToArray());
            Assert.Equal(RpcStatusCode.ResourceExhausted, (await ExpectErrorAsync(raw, 1)).Code);
            Assert.Equal("2", await ExpectResponseAsync(raw, 2));
        }
    }

    [Fact]
    public async Task PingIsAnsweredWithTheSamePayload()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            byte[] payload = { 1, 2, 3, 4, 5, 6, 7, 8 };
            await raw.WriteAsync(RawConnection.Frame(Ping, 0, payload));
            (byte type, _, _, byte[] body) = await raw.ReadFrameAsync();
            Assert.Equal(Pong, type);
            Assert.Equal(payload, body);
        }
    }

    [Fact]
    public async Task CancelFrame_CancelsTheHandler()
    {
        (RpcServer server, Calculator calculator) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(RawConnection.Frame(Request, 7, RawConnection.RequestBody("calc/WaitForCancellation", "[60000]")));
            await calculator.HandlerStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await raw.WriteAsync(RawConnection.Frame(Cancel, 7, Array.Empty<byte>()));
            Assert.True(await calculator.HandlerCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(RpcStatusCode.Cancelled, (await ExpectErrorAsync(raw, 7)).Code);
        }
    }

    [Fact]
    public async Task WrongProtocolVersion_IsRefused()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], sendPreface: false))
        {
            await raw.WriteAsync(new byte[] { 0x52, 0x50, 0x43, 0x47, 9, 1, 0, 0 });
            Assert.True(await raw.WaitForCloseAsync(TimeSpan.FromSeconds(10)));
        }
    }

    [Fact]
    public async Task AfterGoAway_NewRequestsAreRefusedAsNotProcessed_InFlightOnesFinish()
    {
        (RpcServer server, Calculator calculator) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(RawConnection.Frame(Request, 1, RawConnection.RequestBody("calc/WaitForCancellation", "[300]")));
            await calculator.HandlerStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            Task stop = server.StopAsync();

            (byte type, _, _, byte[] body) = await raw.ReadFrameAsync();
            Assert.Equal(GoAway, type);
            Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(body));

            await raw.WriteAsync(RawConnection.Frame(Request, 2, RawConnection.RequestBody("calc/Add", "[1,2]")));

            // The refusal of call 2 and the response of call 1 (its handler sleeps 300 ms) may come in either order on a
            // loaded machine.
            var frames = new Dictionary<uint, (byte Type, byte Flags, byte[] Body)>();
            for (int i = 0; i < 2; i++)
            {
                (byte type2, byte flags2, uint id2, byte[] body2) = await raw.ReadFrameAsync();
                frames[id2] = (type2, flags2, body2);
            }

            (byte errorType, byte flags, byte[] errorBody) = frames[2];
            Assert.Equal(Error, errorType);
            Assert.Equal(1, flags & 1); // not processed: safe to retry elsewhere
            Assert.Equal(2, flags & 2); // with the server's load
            Assert.Equal(RpcStatusCode.Unavailable, RawConnection.ParseError(errorBody).Code);

            Assert.Equal(Response, frames[1].Type);
            Assert.Equal("300", Encoding.UTF8.GetString(frames[1].Body));
            Assert.True(await raw.WaitForCloseAsync(TimeSpan.FromSeconds(10)));
            await stop.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }
}

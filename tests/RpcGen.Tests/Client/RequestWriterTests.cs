using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using RpcGen.Tests.Support;
using RpcGen.Tests.Transport;
using Xunit;

namespace RpcGen.Tests.Client;

/// <summary>
/// The request frame one attempt writes, byte by byte, against a connection whose server is the test; and every way a
/// request is refused before anything is sent (none of them may reach the wire).
/// </summary>
public sealed class RequestWriterTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new();
    private RpcClient _client = null!;
    private ClientConnection _connection = null!;
    private Pipe _toServer = null!;

    public async Task InitializeAsync()
    {
        _client = new RpcClient(new RpcClientOptions
        {
            Endpoints = { new RpcEndpoint("127.0.0.1", 1) }, // never dialled: the connection below is scripted
            TimeProvider = _time,
            Connection = { MaxMetadataSize = 64 },
        });
        (_connection, _, _, _toServer) = await ReadLoopResumptionTests.ConnectScriptedAsync(_time);
    }

    public async Task DisposeAsync()
    {
        _connection.Close(null);
        await _client.DisposeAsync();
    }

    private ClientCall Call(int method)
    {
        RpcMethodDescriptor descriptor = RpcServiceRegistry.GetDescriptor<IOrders>()!.Methods[method];
        RpcClientMethod clientMethod = _client.Invoker.GetMethod(descriptor);
        return ClientCall.Rent(_client, clientMethod, CallDeadline.Begin(clientMethod, _time), 0, intercepted: false, default);
    }

    private const int Get = 0, Charge = 2; // IOrders: GetAsync (idempotent), ChargeAsync ([Deduplicate])

    private bool Write(ClientCall call, PendingCall pending, JsonArguments arguments, out RpcException? error, long deadline = long.MaxValue,
        RpcMetadata? headers = null, FrameFlags flags = FrameFlags.None) =>
        RequestWriter.TryWrite(call, new RequestFrame(_connection, pending, deadline, _time.GetTimestamp(), flags, headers), ref arguments,
            out error);

    /// <summary>Reads one frame the client sent: its header and body.</summary>
    private async Task<(FrameHeader Header, byte[] Body)> ReadFrameAsync()
    {
        while (true)
        {
            ReadResult read = await _toServer.Reader.ReadAsync().AsTask().WaitAsync(NoHang);
            ReadOnlySequence<byte> buffer = read.Buffer;
            if (FrameHeader.TryRead(ref buffer, out FrameHeader header, out _) && buffer.Length >= header.Length)
            {
                byte[] body = buffer.Slice(0, header.Length).ToArray();
                _toServer.Reader.AdvanceTo(buffer.GetPosition(header.Length));
                return (header, body);
            }

            _toServer.Reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    [Fact]
    public async Task ARequest_CarriesItsCallSlot_Timeout_Method_Headers_AndTheArgumentsJson()
    {
        ClientCall call = Call(Get);
        PendingCall pending = _connection.TryStartCall(out _)!;
        var headers = new RpcMetadata { { "tenant", "acme" } };
        long deadline = _time.GetTimestamp() + (1500 * _time.TimestampFrequency / 1000);
        Assert.True(Write(call, pending, new JsonArguments("[42]"), out RpcException? error, deadline, headers, FrameFlags.RetryAttempt));
        Assert.Null(error);

        (FrameHeader header, byte[] body) = await ReadFrameAsync();
        Assert.Equal(FrameType.Request, header.Type);
        Assert.Equal(pending.Id, header.CallId);
        Assert.True((header.Flags & FrameFlags.RetryAttempt) != 0);
        Assert.True((header.Flags & FrameFlags.CallId) == 0); // GetAsync is not deduplicated: no call id
        Assert.Null(RequestBody.TryParse(body, header.Flags, out RequestBody request));
        Assert.Equal(1500u, request.TimeoutMilliseconds);
        Assert.Equal("orders/Get", Encoding.UTF8.GetString(request.Method));
        Assert.Equal("[42]", Encoding.UTF8.GetString(request.Payload));
        Assert.True(request.Metadata.Length > 2); // the tenant header travels
    }

    [Fact]
    public async Task TheTimeoutIsWhatIsLeft_AtLeastOneMillisecond_AndNoneWithoutADeadline()
    {
        ClientCall call = Call(Get);
        long now = _time.GetTimestamp();
        PendingCall closeOne = _connection.TryStartCall(out _)!;
        Assert.True(Write(call, closeOne, new JsonArguments("[1]"), out _, deadline: now + 1)); // a tick left
        PendingCall none = _connection.TryStartCall(out _)!;
        Assert.True(Write(call, none, new JsonArguments("[2]"), out _));

        (FrameHeader first, byte[] firstBody) = await ReadFrameAsync();
        RequestBody.TryParse(firstBody, first.Flags, out RequestBody almost);
        Assert.Equal(1u, almost.TimeoutMilliseconds);
        (FrameHeader second, byte[] secondBody) = await ReadFrameAsync();
        RequestBody.TryParse(secondBody, second.Flags, out RequestBody unbounded);
        Assert.Equal(0u, unbounded.TimeoutMilliseconds);
    }

    [Fact]
    public async Task ADeduplicatedCall_SendsItsCallId_TheSameOnEveryAttempt()
    {
        ClientCall call = Call(Charge);
        Assert.NotEqual(Guid.Empty, call.CallId);
        for (int attempt = 0; attempt < 2; attempt++)
        {
            PendingCall pending = _connection.TryStartCall(out _)!;
            Assert.True(Write(call, pending, new JsonArguments("[5]"), out _));
        }

        for (int attempt = 0; attempt < 2; attempt++)
        {
            (FrameHeader header, byte[] body) = await ReadFrameAsync();
            Assert.True((header.Flags & FrameFlags.CallId) != 0);
            RequestBody.TryParse(body, header.Flags, out RequestBody request);
            Assert.Equal(call.CallId, new Guid(request.CallId));
        }
    }

    [Fact]
    public void MetadataOverTheLimit_IsRefusedBeforeSending_AsNotProcessed()
    {
        ClientCall call = Call(Get);
        PendingCall pending = _connection.TryStartCall(out _)!;
        var headers = new RpcMetadata { { "big", new string('x', 100) } };
        Assert.False(Write(call, pending, new JsonArguments("[1]"), out RpcException? error, headers: headers));
        Assert.Equal(RpcStatusCode.ResourceExhausted, error!.StatusCode);
        Assert.True(error.NotProcessed);
        Assert.Contains("RpcClientOptions.Connection.MaxMetadataSize", error.Message, StringComparison.Ordinal);
        Assert.False(_connection.TryRemove(pending)); // already taken off the connection
        Assert.False(_toServer.Reader.TryRead(out _));
    }

    [Fact]
    public void ArgumentsTheSerializerRefuses_FailAsInvalidArgument_NotSent()
    {
        ClientCall call = Call(Get);
        PendingCall pending = _connection.TryStartCall(out _)!;
        Assert.False(Write(call, pending, new JsonArguments("", new NotSupportedException("no converter for Thing")), out RpcException? error));
        Assert.Equal(RpcStatusCode.InvalidArgument, error!.StatusCode);
        Assert.True(error.NotProcessed);
        Assert.Contains("could not be serialized: no converter for Thing", error.Message, StringComparison.Ordinal);
        Assert.False(_toServer.Reader.TryRead(out _));
    }

    [Fact]
    public void ARequestOverTheFrameSize_IsRefused_NamingTheSetting()
    {
        ClientCall call = Call(Get);
        PendingCall pending = _connection.TryStartCall(out _)!;
        string big = "[\"" + new string('x', _connection.MaxFrameBytes) + "\"]";
        Assert.False(Write(call, pending, new JsonArguments(big), out RpcException? error));
        Assert.Equal(RpcStatusCode.ResourceExhausted, error!.StatusCode);
        Assert.True(error.NotProcessed);
        Assert.Contains("RpcClientOptions.Connection.MaxFrameSize", error.Message, StringComparison.Ordinal);
        Assert.False(_toServer.Reader.TryRead(out _));
    }

    [Fact]
    public async Task AClosedConnection_FailsTheCallAsUnavailable_NotProcessed()
    {
        ClientCall call = Call(Get);
        PendingCall pending = _connection.TryStartCall(out _)!;
        ValueTask<ResponseData> response = pending.AsValueTask();
        _connection.Close(null);
        Assert.False(Write(call, pending, new JsonArguments("[1]"), out RpcException? error));
        Assert.Null(error); // nothing to refuse: the call itself fails, and may go elsewhere
        ResponseData data = await response.AsTask().WaitAsync(NoHang);
        RpcException failed = Assert.IsType<RpcException>(data.Error);
        Assert.Equal(RpcStatusCode.Unavailable, failed.StatusCode);
        Assert.True(failed.NotProcessed);
    }
}

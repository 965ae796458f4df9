using System.Buffers;
using System.Text;
using Xunit;

namespace RpcGen.Tests.Protocol;

public sealed class FrameCodecTests
{
    [Fact]
    public void Header_RoundTrips()
    {
        byte[] bytes = new byte[ProtocolConstants.HeaderLength + 3];
        FrameHeader.Write(bytes, 1234, FrameType.Error, FrameFlags.NotProcessed, 0xDEADBEEF);
        var sequence = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameHeader.TryRead(ref sequence, out FrameHeader header, out uint raw));
        Assert.Equal((1234, FrameType.Error, FrameFlags.NotProcessed, 0xDEADBEEFu, 1234u), (header.Length, header.Type, header.Flags, header.CallId, raw));
        Assert.Equal(3, sequence.Length);
    }

    [Fact]
    public void Header_NeedsTwelveBytes()
    {
        var sequence = new ReadOnlySequence<byte>(new byte[11]);
        Assert.False(FrameHeader.TryRead(ref sequence, out _, out _));
        Assert.Equal(11, sequence.Length);
    }

    [Fact]
    public void Header_HugeLengthIsReportedRaw()
    {
        byte[] bytes = new byte[ProtocolConstants.HeaderLength];
        bytes[0] = bytes[1] = bytes[2] = bytes[3] = 0xFF;
        var sequence = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameHeader.TryRead(ref sequence, out FrameHeader header, out uint raw));
        Assert.Equal(uint.MaxValue, raw);
        Assert.Equal(int.MaxValue, header.Length);
    }

    [Fact]
    public void Preface_ValidatesMagicVersionAndRole()
    {
        byte[] preface = new byte[8];
        Preface.Write(preface, ProtocolConstants.RoleClient);
        Assert.Equal("RPCG", Encoding.ASCII.GetString(preface, 0, 4));
        Assert.Null(Preface.Validate(preface, ProtocolConstants.RoleClient));
        Assert.Contains("is an RpcGen client", Preface.Validate(preface, ProtocolConstants.RoleServer), StringComparison.Ordinal);
        preface[4] = 2;
        Assert.Contains("version 2", Preface.Validate(preface, ProtocolConstants.RoleClient), StringComparison.Ordinal);
        Assert.Contains("does not speak", Preface.Validate(Encoding.ASCII.GetBytes("GET / HT"), ProtocolConstants.RoleClient), StringComparison.Ordinal);
    }

    [Fact]
    public void RequestBody_RoundTrips()
    {
        byte[] name = Encoding.UTF8.GetBytes("calc/Add");
        byte[] payload = Encoding.UTF8.GetBytes("[1,2]");
        byte[] body = new byte[RequestBody.PrefixLength(name.Length) + payload.Length];
        RequestBody.WritePrefix(body, 1500, name);
        payload.CopyTo(body, RequestBody.PrefixLength(name.Length));

        Assert.Null(RequestBody.TryParse(body, FrameFlags.None, out RequestBody request));
        Assert.Equal(1500u, request.TimeoutMilliseconds);
        Assert.Equal("calc/Add", Encoding.UTF8.GetString(request.Method));
        Assert.Equal("[1,2]", Encoding.UTF8.GetString(request.Payload));
    }

    [Fact]
    public void RequestBody_CarriesACallId_BehindTheMetadata_WhenFlagged()
    {
        byte[] name = Encoding.UTF8.GetBytes("orders/Charge");
        byte[] callId = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();
        int prefix = RequestBody.PrefixLength(name.Length, callId: true);
        Assert.Equal(RequestBody.PrefixLength(name.Length) + 16, prefix);
        byte[] body = new byte[prefix + 2];
        RequestBody.WritePrefix(body, 0, name, callId);
        "[]"u8.CopyTo(body.AsSpan(prefix));

        Assert.Null(RequestBody.TryParse(body, FrameFlags.CallId, out RequestBody request));
        Assert.Equal(callId, request.CallId.ToArray());
        Assert.Equal("[]", Encoding.UTF8.GetString(request.Payload));

        Assert.Equal("request frame's call id is truncated", RequestBody.TryParse(body.AsSpan(0, prefix - 1), FrameFlags.CallId, out _));
        Assert.Null(RequestBody.TryParse(body, FrameFlags.None, out RequestBody unflagged)); // without the flag: no call id
        Assert.True(unflagged.CallId.IsEmpty);
    }

    [Fact]
    public void ErrorBody_CarriesPushback_AfterTheMessage()
    {
        foreach (int pushback in new[] { 250, 0, -1 })
        {
            byte[] body = new byte[ErrorBody.Length("busy", pushback: true)];
            ErrorBody.Write(body, RpcStatusCode.Unavailable, "busy", pushback);
            Assert.True(ErrorBody.TryRead(body, out RpcStatusCode code, out string message));
            Assert.Equal((RpcStatusCode.Unavailable, "busy"), (code, message));
            Assert.Equal(pushback, ErrorBody.ReadPushback(body));
        }

        byte[] plain = new byte[ErrorBody.Length("busy")];
        ErrorBody.Write(plain, RpcStatusCode.Unavailable, "busy");
        Assert.Null(ErrorBody.ReadPushback(plain));
    }

    [Fact]
    public void RequestBody_SkipsMetadataEntries()
    {
        var body = new List<byte>();
        body.AddRange(BitConverter.GetBytes(0u));
        body.AddRange(BitConverter.GetBytes((ushort)1));
        body.Add((byte)'m');
        body.AddRange(BitConverter.GetBytes((ushort)1));
        body.AddRange(BitConverter.GetBytes((ushort)2)); body.AddRange("k1"u8.ToArray());
        body.AddRange(BitConverter.GetBytes((ushort)3)); body.AddRange("val"u8.ToArray());
        body.AddRange("[]"u8.ToArray());
        Assert.Null(RequestBody.TryParse(body.ToArray(), FrameFlags.None, out RequestBody request));
        Assert.Equal("[]", Encoding.UTF8.GetString(request.Payload));

        body.RemoveRange(body.Count - 6, 6); // cut into the metadata value
        Assert.Equal("request frame's metadata is truncated", RequestBody.TryParse(body.ToArray(), FrameFlags.None, out _));
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0 })]          // empty method name
    [InlineData(new byte[] { 0, 0, 0, 0, 9, 0, 1, 2 })]          // name runs past the end
    public void RequestBody_RejectsMalformedBodies(byte[] body) => Assert.NotNull(RequestBody.TryParse(body, FrameFlags.None, out _));

    [Fact]
    public void ErrorBody_RoundTripsAndCutsLongMessagesOnACharacterBoundary()
    {
        byte[] body = new byte[ErrorBody.Length("nope")];
        ErrorBody.Write(body, RpcStatusCode.NotFound, "nope");
        Assert.True(ErrorBody.TryRead(body, out RpcStatusCode code, out string message));
        Assert.Equal((RpcStatusCode.NotFound, "nope"), (code, message));

        string longText = new string('é', 5000); // 2 bytes each
        byte[] longBody = new byte[ErrorBody.Length(longText)];
        ErrorBody.Write(longBody, RpcStatusCode.Internal, longText);
        Assert.True(ErrorBody.TryRead(longBody, out _, out string cut));
        Assert.Equal(ErrorBody.MaxMessageBytes / 2, cut.Length);
        Assert.All(cut, c => Assert.Equal('é', c));
    }

    private static (FrameHeader Header, byte[] Body) Decode(ReadOnlySpan<byte> frame)
    {
        var sequence = new ReadOnlySequence<byte>(frame.ToArray());
        Assert.True(FrameHeader.TryRead(ref sequence, out FrameHeader header, out _));
        Assert.Equal(header.Length, sequence.Length); // the header's length is exactly the body that follows
        return (header, sequence.ToArray());
    }

    [Fact]
    public void Encoder_Request_CarriesTimeoutMethodAndCallId_AroundTheSerializedArguments()
    {
        byte[] name = Encoding.UTF8.GetBytes("calc/Add");
        byte[] payload = Encoding.UTF8.GetBytes("[1,2]");
        byte[] id = Guid.NewGuid().ToByteArray();
        int prefix = FrameEncoder.RequestPrefixLength(name.Length, callId: true);
        byte[] frame = new byte[prefix + payload.Length];
        payload.CopyTo(frame, prefix);
        FrameEncoder.WriteRequest(frame, 7, FrameFlags.RetryAttempt, 1500, name, id);

        (FrameHeader header, byte[] body) = Decode(frame);
        Assert.Equal((FrameType.Request, FrameFlags.RetryAttempt | FrameFlags.CallId, 7u), (header.Type, header.Flags, header.CallId));
        Assert.Null(RequestBody.TryParse(body, header.Flags, out RequestBody request));
        Assert.Equal(1500u, request.TimeoutMilliseconds);
        Assert.Equal("calc/Add", Encoding.UTF8.GetString(request.Method));
        Assert.Equal(id, request.CallId.ToArray());
        Assert.Equal("[1,2]", Encoding.UTF8.GetString(request.Payload));
    }

    [Fact]
    public void Encoder_Request_WithoutCallId_HasNoCallIdFlag()
    {
        byte[] name = Encoding.UTF8.GetBytes("m");
        byte[] frame = new byte[FrameEncoder.RequestPrefixLength(name.Length, callId: false)];
        FrameEncoder.WriteRequest(frame, 1, FrameFlags.None, 0, name, default);
        (FrameHeader header, byte[] body) = Decode(frame);
        Assert.Equal(FrameFlags.None, header.Flags);
        Assert.Null(RequestBody.TryParse(body, header.Flags, out RequestBody request));
        Assert.True(request.CallId.IsEmpty && request.Payload.IsEmpty);
    }

    [Fact]
    public void Encoder_Response_StartsWithTheLoadReport()
    {
        byte[] result = Encoding.UTF8.GetBytes("42");
        byte[] frame = new byte[FrameEncoder.ResponsePrefixLength + result.Length];
        result.CopyTo(frame, FrameEncoder.ResponsePrefixLength);
        FrameEncoder.WriteResponse(frame, 9, serverInFlight: 17, utilizationBasisPoints: 2500);

        (FrameHeader header, byte[] bytes) = Decode(frame);
        Assert.Equal((FrameType.Response, FrameFlags.LoadReport, 9u), (header.Type, header.Flags, header.CallId));
        ReadOnlySpan<byte> body = bytes;
        Assert.True(LoadReport.TryRead(ref body, out int inFlight, out int utilization));
        Assert.Equal((17, 2500, "42"), (inFlight, utilization, Encoding.UTF8.GetString(body)));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(250)]
    [InlineData(-1)]
    public void Encoder_Error_HasLoadReportStatusMessageAndPushback(int? pushback)
    {
        byte[] frame = new byte[FrameEncoder.ErrorLength("busy", pushback is not null)];
        FrameEncoder.WriteError(frame, 3, RpcStatusCode.ResourceExhausted, "busy", FrameFlags.NotProcessed, pushback, 5, -1);

        (FrameHeader header, byte[] bytes) = Decode(frame);
        FrameFlags expected = FrameFlags.NotProcessed | FrameFlags.LoadReport | (pushback is null ? 0 : FrameFlags.Pushback);
        Assert.Equal((FrameType.Error, expected, 3u), (header.Type, header.Flags, header.CallId));
        ReadOnlySpan<byte> body = bytes;
        Assert.True(LoadReport.TryRead(ref body, out int inFlight, out int utilization));
        Assert.Equal((5, -1), (inFlight, utilization));
        Assert.True(ErrorBody.TryRead(body, out RpcStatusCode code, out string message));
        Assert.Equal((RpcStatusCode.ResourceExhausted, "busy", pushback), (code, message, ErrorBody.ReadPushback(body)));
    }

    [Fact]
    public void Encoder_Error_CutsALongMessageOnACharacterBoundary()
    {
        string message = new('é', ErrorBody.MaxMessageBytes); // two bytes each: twice the limit
        byte[] frame = new byte[FrameEncoder.ErrorLength(message, pushback: false)];
        FrameEncoder.WriteError(frame, 1, RpcStatusCode.Internal, message, FrameFlags.None, null, 0, -1);
        ReadOnlySpan<byte> body = Decode(frame).Body;
        Assert.True(LoadReport.TryRead(ref body, out _, out _));
        Assert.True(ErrorBody.TryRead(body, out _, out string read));
        Assert.Equal(new string('é', ErrorBody.MaxMessageBytes / 2), read);
    }

    [Fact]
    public void Encoder_ControlFrames_HaveTheirFixedLayouts()
    {
        byte[] ping = new byte[FrameEncoder.PingLength];
        FrameEncoder.WritePing(ping, 0x0102030405060708);
        Assert.Equal("080000000500000000000000" + "0807060504030201", Convert.ToHexString(ping));

        byte[] pong = new byte[FrameEncoder.PingLength];
        FrameEncoder.WritePong(pong, ping.AsSpan(ProtocolConstants.HeaderLength));
        Assert.Equal("080000000600000000000000" + "0807060504030201", Convert.ToHexString(pong));
        FrameEncoder.WritePong(pong, new byte[3]); // a peer's odd-sized ping gets zeros back, never its bytes
        Assert.Equal("080000000600000000000000" + "0000000000000000", Convert.ToHexString(pong));

        byte[] goAway = new byte[FrameEncoder.GoAwayLength];
        FrameEncoder.WriteGoAway(goAway, 41);
        Assert.Equal("040000000700000000000000" + "29000000", Convert.ToHexString(goAway));

        byte[] cancel = new byte[FrameEncoder.CancelLength];
        FrameEncoder.WriteCancel(cancel, 0x11223344);
        Assert.Equal("000000000400000044332211", Convert.ToHexString(cancel));
    }

    [Fact]
    public void Encoder_ResponseAndErrorWithMetadata_CarryHeadersThenTrailers_AfterTheLoadReport()
    {
        var headers = new RpcMetadata { { "served-by", "a" } };
        var trailers = new RpcMetadata { { "cost", "7" }, { "raw-bin", new byte[] { 0, 255 } } };
        int metadata = FrameEncoder.ResponseMetadataLength(headers, trailers);
        Assert.Equal(headers.EncodedLength + trailers.EncodedLength, metadata);
        Assert.Equal(0, FrameEncoder.ResponseMetadataLength(null, new RpcMetadata())); // none: the frame is what it always was

        byte[] frame = new byte[FrameEncoder.ResponsePrefixLength + metadata + 2];
        "42"u8.CopyTo(frame.AsSpan(FrameEncoder.ResponsePrefixLength + metadata));
        FrameEncoder.WriteResponse(frame, 5, 1, -1, metadata, headers, trailers);
        (FrameHeader header, byte[] bytes) = Decode(frame);
        Assert.Equal(FrameFlags.LoadReport | FrameFlags.Metadata, header.Flags);
        ReadOnlySpan<byte> body = bytes.AsSpan(LoadReport.Length);
        int first = MetadataCodec.Measure(body);
        int second = MetadataCodec.Measure(body.Slice(first));
        RpcMetadata readHeaders = MetadataCodec.Read(body.Slice(0, first), out string? problem)!;
        RpcMetadata readTrailers = MetadataCodec.Read(body.Slice(first, second), out problem)!;
        Assert.Null(problem);
        Assert.Equal(headers, readHeaders);
        Assert.Equal(trailers, readTrailers);
        Assert.True(readTrailers.IsReadOnly);
        Assert.Equal("42", Encoding.UTF8.GetString(body.Slice(first + second)));

        byte[] error = new byte[FrameEncoder.ErrorLength("no", pushback: false, metadata)];
        FrameEncoder.WriteError(error, 6, RpcStatusCode.NotFound, "no", FrameFlags.None, null, 1, -1, metadata, headers, trailers);
        (header, bytes) = Decode(error);
        Assert.Equal(FrameFlags.LoadReport | FrameFlags.Metadata, header.Flags);
        Assert.True(ErrorBody.TryRead(bytes.AsSpan(LoadReport.Length + metadata), out RpcStatusCode code, out string message));
        Assert.Equal((RpcStatusCode.NotFound, "no"), (code, message));
    }

    [Theory]
    [InlineData(new byte[] { 1 })]                            // count cut short
    [InlineData(new byte[] { 1, 0, 5, 0, (byte)'a' })]       // key shorter than its length
    [InlineData(new byte[] { 1, 0, 1, 0, (byte)'a', 9, 0 })] // value shorter than its length
    public void Metadata_TruncatedBlocks_AreMeasuredAsTruncated(byte[] block) => Assert.Equal(-1, MetadataCodec.Measure(block));
}

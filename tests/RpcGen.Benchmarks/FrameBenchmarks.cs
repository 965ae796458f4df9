using System.Buffers;
using BenchmarkDotNet.Attributes;

namespace RpcGen.Benchmarks;

/// <summary>The frame codec on its own: header write/read and request-body parse.</summary>
[MemoryDiagnoser]
public class FrameBenchmarks
{
    private readonly byte[] _frame = new byte[64];
    private ReadOnlySequence<byte> _sequence;
    private int _bodyLength;

    [GlobalSetup]
    public void Setup()
    {
        byte[] name = "bench/Add"u8.ToArray();
        byte[] payload = "[12345,67890]"u8.ToArray();
        _bodyLength = RequestBody.PrefixLength(name.Length) + payload.Length;
        FrameHeader.Write(_frame, _bodyLength, FrameType.Request, FrameFlags.None, 7);
        RequestBody.WritePrefix(_frame.AsSpan(ProtocolConstants.HeaderLength), 500, name);
        payload.CopyTo(_frame.AsSpan(ProtocolConstants.HeaderLength + RequestBody.PrefixLength(name.Length)));
        _sequence = new ReadOnlySequence<byte>(_frame, 0, ProtocolConstants.HeaderLength + _bodyLength);
    }

    [Benchmark]
    public void WriteHeader() => FrameHeader.Write(_frame, _bodyLength, FrameType.Request, FrameFlags.None, 7);

    [Benchmark]
    public int ReadHeaderAndParseRequest()
    {
        ReadOnlySequence<byte> sequence = _sequence;
        FrameHeader.TryRead(ref sequence, out FrameHeader header, out _);
        RequestBody.TryParse(sequence.FirstSpan.Slice(0, header.Length), header.Flags, out RequestBody request);
        return request.Payload.Length;
    }
}

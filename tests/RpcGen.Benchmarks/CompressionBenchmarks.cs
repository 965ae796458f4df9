using System.IO.Compression;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using RpcGen.Transport;

namespace RpcGen.Benchmarks;

/// <summary>
/// What <c>[Compress]</c> costs per body: 64 KiB of readings (the load runner's <c>--payload readings</c>) and a 1 KiB
/// record, compressed and inflated with each algorithm at the default (fastest) level. The ratio is printed at setup.
/// </summary>
[MemoryDiagnoser]
public class CompressionBenchmarks
{
    private byte[] _json = Array.Empty<byte>();
    private byte[] _compressed = Array.Empty<byte>();
    private readonly byte[] _target = new byte[128 * 1024];
    private byte[] _inflated = Array.Empty<byte>();

    [Params(RpcCompression.Gzip, RpcCompression.Brotli, RpcCompression.Zstd)]
    public RpcCompression Algorithm { get; set; }

    [Params("readings", "record")]
    public string Payload { get; set; } = "readings";

    [GlobalSetup]
    public void Setup()
    {
        var web = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        _json = Payload == "readings"
            ? JsonSerializer.SerializeToUtf8Bytes(BenchReading.Page, web)
            : JsonSerializer.SerializeToUtf8Bytes(BenchRecord.Sample, web);
        if (!FrameCompression.TryCompress(Algorithm, CompressionLevel.Fastest, _json, _target, out int written))
        {
            throw new InvalidOperationException($"{Algorithm} does not save a tenth of {Payload}");
        }

        _compressed = _target[..written];
        _inflated = new byte[_json.Length];
        Console.WriteLine($"// {Algorithm} {Payload}: {_json.Length} → {written} bytes ({(double)_json.Length / written:0.0}×)");
    }

    [Benchmark]
    public int Compress()
    {
        FrameCompression.TryCompress(Algorithm, CompressionLevel.Fastest, _json, _target, out int written);
        return written;
    }

    [Benchmark]
    public string? Inflate() => FrameCompression.TryDecompress((byte)Algorithm, _compressed, _inflated);
}

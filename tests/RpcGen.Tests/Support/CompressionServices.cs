using System.IO.Compression;

namespace RpcGen.Tests.Support;

/// <summary>One sensor reading: the kind of record a telemetry service sends by the thousand (repetitive JSON).</summary>
public sealed record Reading(string Sensor, DateTimeOffset At, double Value, string Unit, string Site);

/// <summary>Compression per method: each algorithm, one that turns its interface's off, one allowed over TLS.</summary>
[RpcService("zip"), Compress]
public interface ICompressed
{
    Task<Reading[]> EchoAsync(Reading[] readings);

    [Compress(RpcCompression.Gzip)]
    Task<Reading[]> EchoGzipAsync(Reading[] readings);

    [Compress(RpcCompression.Brotli, Level = CompressionLevel.Optimal)]
    Task<Reading[]> EchoBrotliAsync(Reading[] readings);

    [Compress(RpcCompression.None)]
    Task<Reading[]> EchoPlainAsync(Reading[] readings);

    [Compress(AllowOverTls = true)]
    Task<Reading[]> EchoOverTlsAsync(Reading[] readings);

    [Compress(MinSize = 0)]
    Task<byte[]> BytesAsync(int count, int seed);

    IAsyncEnumerable<Reading> WatchAsync(int kilobytes, CancellationToken ct = default);

    [Compress(RpcCompression.None)]
    IAsyncEnumerable<Reading> WatchPlainAsync(int kilobytes, CancellationToken ct = default);

    Task<int> UploadAsync(IAsyncEnumerable<Reading> readings, CancellationToken ct = default);

    [Compress(RpcCompression.None)]
    Task<int> UploadPlainAsync(IAsyncEnumerable<Reading> readings, CancellationToken ct = default);
}

public sealed class Compressed : ICompressed
{
    public Task<Reading[]> EchoAsync(Reading[] readings) => Task.FromResult(readings);

    public Task<Reading[]> EchoGzipAsync(Reading[] readings) => Task.FromResult(readings);

    public Task<Reading[]> EchoBrotliAsync(Reading[] readings) => Task.FromResult(readings);

    public Task<Reading[]> EchoPlainAsync(Reading[] readings) => Task.FromResult(readings);

    public Task<Reading[]> EchoOverTlsAsync(Reading[] readings) => Task.FromResult(readings);

    public async IAsyncEnumerable<Reading> WatchAsync(
        int kilobytes, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        // Items the source has at hand share frames of up to 16 KiB: what compression gets to work on.
        foreach (Reading reading in Readings(kilobytes))
        {
            yield return reading;
        }

        await Task.CompletedTask;
    }

    public IAsyncEnumerable<Reading> WatchPlainAsync(int kilobytes, CancellationToken ct = default) => WatchAsync(kilobytes, ct);

    public async Task<int> UploadAsync(IAsyncEnumerable<Reading> readings, CancellationToken ct = default)
    {
        int count = 0;
        await foreach (Reading reading in readings.WithCancellation(ct))
        {
            count += reading.Sensor.Length > 0 ? 1 : 0;
        }

        return count;
    }

    public Task<int> UploadPlainAsync(IAsyncEnumerable<Reading> readings, CancellationToken ct = default) => UploadAsync(readings, ct);

    /// <summary>Random bytes: what compression cannot shrink.</summary>
    public Task<byte[]> BytesAsync(int count, int seed)
    {
        byte[] bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return Task.FromResult(bytes);
    }

    /// <summary>About <paramref name="kilobytes"/> KiB of readings as JSON.</summary>
    public static Reading[] Readings(int kilobytes)
    {
        var start = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        return Enumerable.Range(0, kilobytes * 1024 / 110)
            .Select(i => new Reading($"sensor-{i % 40:000}", start.AddSeconds(i), Math.Round(20 + Math.Sin(i / 10.0) * 5, 2), "celsius",
                i % 2 == 0 ? "building-7/floor-2" : "building-7/floor-3"))
            .ToArray();
    }
}

namespace RpcGen.Benchmarks;

[RpcService("bench")]
public interface IBench
{
    Task<int> AddAsync(int a, int b, CancellationToken ct = default);

    ValueTask<int> AddValueAsync(int a, int b);

    Task NoopAsync();
}

public sealed class Bench : IBench
{
    private static readonly Task<int>[] s_small = Enumerable.Range(0, 256).Select(Task.FromResult).ToArray();

    // Results under 256 come from a cache, as the BCL does for small Task<int> results, so the benchmark
    // measures RpcGen's allocations and not the handler's.
    public Task<int> AddAsync(int a, int b, CancellationToken ct = default)
    {
        int sum = a + b;
        return (uint)sum < 256 ? s_small[sum] : Task.FromResult(sum);
    }

    public ValueTask<int> AddValueAsync(int a, int b) => new(a + b);

    public Task NoopAsync() => Task.CompletedTask;
}

/// <summary>A deadline only: the baseline of the policy layer's cost.</summary>
/// <summary>
/// AddAsync as a [Deduplicate] method with retries (without a policy that may send a call twice, the client sends no
/// call id and the server has nothing to deduplicate): every call is claimed and answered in the server's store.
/// </summary>
[RpcService("bench-dedup")]
public interface IDedupBench
{
    [Deduplicate, Retry(MaxAttempts = 3)]
    Task<int> AddAsync(int a, int b, CancellationToken ct = default);
}

public sealed class DedupBench : IDedupBench
{
    public Task<int> AddAsync(int a, int b, CancellationToken ct = default) => Task.FromResult(a + b);
}

[RpcService("bench-timeout"), Timeout(1000)]
public interface ITimeoutBench
{
    ValueTask<int> AddValueAsync(int a, int b);
}

/// <summary>The same method with Retry + Timeout (and idempotent, so every rule is live).</summary>
[RpcService("bench-retry"), Timeout(1000), Retry(MaxAttempts = 3), Idempotent]
public interface IRetryBench
{
    ValueTask<int> AddValueAsync(int a, int b);
}

public sealed class PolicyBench : ITimeoutBench, IRetryBench
{
    public ValueTask<int> AddValueAsync(int a, int b) => new(a + b);
}

/// <summary>Calls that always outlive their 50 ms deadline: how punctually does a burst of them end?</summary>
[RpcService("bench-sleep"), Timeout(50)]
public interface ISleepBench
{
    Task<int> SleepAsync(int milliseconds, CancellationToken ct = default);
}

public sealed class SleepBench : ISleepBench
{
    public async Task<int> SleepAsync(int milliseconds, CancellationToken ct = default)
    {
        await Task.Delay(milliseconds, ct);
        return milliseconds;
    }
}

/// <summary>A record like a real service's (about 1 KiB as RpcGen's JSON): the load runner's <c>--payload record</c>.</summary>
public sealed record BenchRecord(
    long Id, string Name, string Email, string Country, DateTimeOffset Created, double Score, bool Active, string[] Tags, string Notes)
{
    public static BenchRecord Sample { get; } = new(
        1_234_567_890, "Ada Lovelace", "ada.lovelace@example.org", "GB", new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero), 98.6, true,
        new[] { "analytical-engine", "mathematics", "poetry", "first-programmer", "notes", "bernoulli", "babbage", "computing" },
        string.Concat(Enumerable.Repeat("She wrote the first algorithm meant to be carried out by a machine. ", 10)));
}

/// <summary>One sensor reading (~110 bytes of JSON): <see cref="Page"/> is the load runner's <c>--payload readings</c>.</summary>
public sealed record BenchReading(string Sensor, DateTimeOffset At, double Value, string Unit, string Site)
{
    /// <summary>64 KiB of readings as RpcGen's JSON: forty sensors, a second apart, values that wander.</summary>
    public static BenchReading[] Page { get; } = CreatePage();

    private static BenchReading[] CreatePage()
    {
        var start = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        var random = new Random(42);
        var page = new List<BenchReading>();
        int bytes = 0;
        for (int i = 0; bytes < 64 * 1024; i++)
        {
            var reading = new BenchReading($"sensor-{i % 40:000}", start.AddMilliseconds(i * 1000 + random.Next(1000)),
                Math.Round(20 + (random.NextDouble() * 10), 3), "celsius", $"building-{i % 7}/floor-{i % 5}");
            bytes += System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(reading, s_web).Length + 1;
            page.Add(reading);
        }

        return page.ToArray();
    }

    private static readonly System.Text.Json.JsonSerializerOptions s_web = new(System.Text.Json.JsonSerializerDefaults.Web);
}

/// <summary>Payloads that look like real services: a record, a 64 KiB byte array and 64 KiB of readings, echoed.</summary>
[RpcService("payload")]
public interface IPayloadBench
{
    Task<BenchRecord> EchoRecordAsync(BenchRecord record);

    Task<byte[]> EchoBytesAsync(byte[] data);

    Task<BenchReading[]> EchoReadingsAsync(BenchReading[] readings);
}

/// <summary>
/// The same payloads with <c>[Compress]</c> as users get it (Zstandard, fastest, 1 KiB minimum): the load runner's
/// <c>rpcgen-zip</c>.
/// </summary>
[RpcService("payload-zip"), Compress]
public interface IZipPayloadBench
{
    Task<BenchRecord> EchoRecordAsync(BenchRecord record);

    Task<byte[]> EchoBytesAsync(byte[] data);

    Task<BenchReading[]> EchoReadingsAsync(BenchReading[] readings);
}

public sealed class PayloadBench : IPayloadBench, IZipPayloadBench
{
    public Task<BenchRecord> EchoRecordAsync(BenchRecord record) => Task.FromResult(record);

    public Task<byte[]> EchoBytesAsync(byte[] data) => Task.FromResult(data);

    public Task<BenchReading[]> EchoReadingsAsync(BenchReading[] readings) => Task.FromResult(readings);
}

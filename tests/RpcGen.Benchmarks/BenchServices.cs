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

/// <summary>Payloads that look like real services: a record and a 64 KiB byte array, echoed.</summary>
[RpcService("payload")]
public interface IPayloadBench
{
    Task<BenchRecord> EchoRecordAsync(BenchRecord record);

    Task<byte[]> EchoBytesAsync(byte[] data);
}

public sealed class PayloadBench : IPayloadBench
{
    public Task<BenchRecord> EchoRecordAsync(BenchRecord record) => Task.FromResult(record);

    public Task<byte[]> EchoBytesAsync(byte[] data) => Task.FromResult(data);
}

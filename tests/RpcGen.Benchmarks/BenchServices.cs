using RpcGen;

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

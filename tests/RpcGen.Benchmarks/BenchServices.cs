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

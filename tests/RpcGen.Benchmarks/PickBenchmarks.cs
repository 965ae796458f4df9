using BenchmarkDotNet.Attributes;
using RpcGen.Balancing.Internal;

namespace RpcGen.Benchmarks;

/// <summary>
/// One pick per strategy over 3, 10 and 100 endpoints, with the context the invoker builds (no sockets: endpoints never
/// connect). The key changes every pick so consistent hashing does not hit one ring point.
/// </summary>
[MemoryDiagnoser]
public class PickBenchmarks
{
    private RpcClient _client = null!;
    private EndpointSet _set = null!;
    private ILoadBalancer _balancer = null!;
    private ulong _key;

    [Params(3, 10, 100)]
    public int Endpoints { get; set; }

    [Params(
        LoadBalanceStrategy.RoundRobin, LoadBalanceStrategy.Random, LoadBalanceStrategy.PowerOfTwoChoices,
        LoadBalanceStrategy.LeastOutstanding, LoadBalanceStrategy.PeakEwma, LoadBalanceStrategy.WeightedRandom,
        LoadBalanceStrategy.WeightedRoundRobin, LoadBalanceStrategy.ConsistentHash, LoadBalanceStrategy.LocalityAware)]
    public LoadBalanceStrategy Strategy { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new RpcClientOptions { Balancing = { Zone = "a" } };
        for (int i = 0; i < Endpoints; i++)
        {
            options.Endpoints.Add(new RpcEndpoint($"10.0.{i / 250}.{(i % 250) + 1}", 7000) { Weight = 50 + (i % 5 * 25), Zone = i % 3 == 0 ? "a" : "b" });
        }

        _client = new RpcClient(options);
        _set = _client.EndpointSet;
        _balancer = LoadBalancers.Create(Strategy, zone: "a");
        _key = Balancing.RpcHash.String("user-42");
        Pick();
    }

    [GlobalCleanup]
    public void Cleanup() => _client.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark]
    public RpcEndpointState? Pick() =>
        _balancer.Pick(new LoadBalancingContext(_set, _set.Candidates, null, _key++, true, 0, default, 0)); // as the invoker builds it
}

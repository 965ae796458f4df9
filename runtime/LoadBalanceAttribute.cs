using System;

namespace RpcGen;

/// <summary>How a client spreads the calls of a service or method over its endpoints. See docs/load-balancing.md.</summary>
public enum LoadBalanceStrategy
{
    /// <summary>Each endpoint in turn. The default.</summary>
    RoundRobin = 0,
    /// <summary>A uniformly random endpoint.</summary>
    Random = 1,
    /// <summary>In turn, in proportion to weights, interleaved smoothly (as nginx and Dubbo do it).</summary>
    WeightedRoundRobin = 2,
    /// <summary>A random endpoint with probability proportional to its weight.</summary>
    WeightedRandom = 3,
    /// <summary>The endpoint with the fewest calls in flight (per unit of weight); ties broken at random.</summary>
    LeastOutstanding = 4,
    /// <summary>Two random endpoints; the one with fewer calls in flight (per unit of weight) wins.</summary>
    PowerOfTwoChoices = 5,
    /// <summary>The least expected latency: peak-sensitive EWMA of response time × (calls in flight + 1).</summary>
    PeakEwma = 6,
    /// <summary>The same <c>[HashKey]</c> goes to the same endpoint; bounded load spills hot keys to the next one.</summary>
    ConsistentHash = 7,
    /// <summary>Endpoints in the client's zone first; other zones when the local ones are unhealthy or overloaded.</summary>
    LocalityAware = 8,
}

/// <summary>
/// Chooses the load-balancing strategy of an interface's methods, or of one method (the method's attribute wins).
/// Client options can override it per service or method without recompiling.
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class LoadBalanceAttribute : Attribute
{
    /// <summary>A built-in strategy.</summary>
    public LoadBalanceAttribute(LoadBalanceStrategy strategy) => Strategy = strategy;

    /// <summary>
    /// A user's own strategy: a class implementing <see cref="Balancing.ILoadBalancer"/> with a public parameterless constructor.
    /// The generated code creates it with <c>new</c> (no reflection).
    /// </summary>
    public LoadBalanceAttribute(Type balancerType) => BalancerType = balancerType;

    /// <summary>The built-in strategy, when no balancer type is given.</summary>
    public LoadBalanceStrategy Strategy { get; }

    /// <summary>The user's balancer type, or null.</summary>
    public Type? BalancerType { get; }
}

/// <summary>
/// Marks the parameter(s) whose values choose the endpoint under <see cref="LoadBalanceStrategy.ConsistentHash"/>.
/// With several, their hashes are combined in parameter order.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter, Inherited = false, AllowMultiple = false)]
public sealed class HashKeyAttribute : Attribute
{
}

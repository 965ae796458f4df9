using System;
using Microsoft.Extensions.Logging;
using Polly;
using RpcGen.Descriptors;

namespace RpcGen.Resilience.Internal;

/// <summary>
/// What a method's resilience is built from: its effective policies (attributes, overridden by options) and the
/// client-wide parts they use. Named settings instead of a constructor of eleven arguments, as System.Text.Json's
/// <c>JsonObjectInfoValues&lt;T&gt;</c> does; unset policies mean none.
/// </summary>
internal sealed class MethodPolicies
{
    public required RpcMethodDescriptor Method { get; init; }

    /// <summary><c>[Idempotent]</c>: running the call twice is harmless, so a request that reached a server may run again.</summary>
    public bool Idempotent { get; init; }

    /// <summary><c>[Deduplicate]</c>: the server answers a retried call id from its window instead of running it again.</summary>
    public bool Deduplicate { get; init; }

    /// <summary><c>[Broadcast]</c>: one attempt per available endpoint.</summary>
    public bool Broadcast { get; init; }

    public RpcRetryPolicy? Retry { get; init; }

    public RpcHedgingPolicy? Hedging { get; init; }

    public CircuitBreakerGroup? Breaker { get; init; }

    /// <summary>The client's retry budget, which retries and hedges draw on.</summary>
    public required RetryBudget Budget { get; init; }

    public required TimeProvider Time { get; init; }

    /// <summary>The user's own strategies around the whole call (<c>AdditionalResilience</c>), or null.</summary>
    public ResiliencePipeline? Outer { get; init; }

    public ILogger? Logger { get; init; }
}

using System;
using System.Collections.Generic;
using System.Threading;
using RpcGen.Descriptors;

namespace RpcGen.Resilience;

/// <summary>
/// A client's deadlines, retries, hedges and circuits beyond what the attributes say: the default deadline, per-service
/// and per-method overrides, the retry budget and your own Polly.Core strategies (configuration section <c>Resilience</c>).
/// </summary>
public sealed class ResilienceOptions
{
    /// <summary>
    /// The deadline of a call whose method and service have no <c>[Timeout]</c> and no <c>TimeoutMs</c> override, so that
    /// no call waits forever on a server that keeps its connection alive but never answers. 30 seconds: far above any
    /// healthy call, short enough that a stuck one is noticed (gRPC has no default; Dubbo's is 1 s, which is too short for
    /// slow but healthy work). <see cref="TimeSpan.Zero"/> or <see cref="Timeout.InfiniteTimeSpan"/> turns it off (in
    /// configuration: <c>"0"</c>). The default value is 30 seconds.
    /// </summary>
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Resilience overrides without recompiling, keyed by service wire name (<c>"orders"</c>) or method
    /// (<c>"orders/Get"</c>); a method key wins over a service key, and both over the attributes.
    /// </summary>
    public IDictionary<string, RpcPolicyOverride> Policies { get; } = new Dictionary<string, RpcPolicyOverride>(StringComparer.Ordinal);

    /// <summary>The cap on retries and hedges across this client (Finagle's retry budget).</summary>
    public RetryBudgetOptions RetryBudget { get; } = new();

    /// <summary>
    /// Your own Polly.Core strategies (rate limiting, a custom timeout, telemetry…) around every call of a method,
    /// retries included; return null for methods that need none. Called once per method and client. Code only (not read
    /// from configuration). The default value is none.
    /// </summary>
    public Func<RpcMethodDescriptor, Polly.ResiliencePipeline?>? AdditionalResilience { get; set; }

    internal void Validate()
    {
        if ((DefaultTimeout < TimeSpan.Zero && DefaultTimeout != Timeout.InfiniteTimeSpan) || DefaultTimeout.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(DefaultTimeout), DefaultTimeout, "Resilience.DefaultTimeout must be positive (at most int.MaxValue ms), or zero or Timeout.InfiniteTimeSpan for no default deadline.");
        }

        RetryBudget.Validate();
    }
}

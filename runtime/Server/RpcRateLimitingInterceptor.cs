using System;
using System.Threading.RateLimiting;
using System.Threading.Tasks;

namespace RpcGen.Server;

/// <summary>
/// Refuses calls over a rate limit before their handler runs, with <see cref="RpcStatusCode.ResourceExhausted"/>,
/// marked not processed (the client may send the call to another server at once) and with pushback: the limiter's
/// retry-after when it gives one, else <see cref="DefaultRetryAfter"/>. The limits are System.Threading.RateLimiting's
/// (token bucket, fixed or sliding window, concurrency), partitioned as you choose: per method, per caller, per tenant
/// header. A lease is held while the handler runs, so a concurrency limiter counts calls in progress.
/// </summary>
/// <example>
/// <code>
/// var limiter = PartitionedRateLimiter.Create&lt;RpcIncomingCall, string&gt;(call =&gt;
///     RateLimitPartition.GetTokenBucketLimiter(call.Method.FullName, _ =&gt; new TokenBucketRateLimiterOptions
///     {
///         TokenLimit = 100, TokensPerPeriod = 100, ReplenishmentPeriod = TimeSpan.FromSeconds(1),
///     }));
/// options.Interceptors.Add(new RpcRateLimitingInterceptor(limiter));
/// </code>
/// </example>
public sealed class RpcRateLimitingInterceptor : RpcServerInterceptor
{
    private readonly PartitionedRateLimiter<RpcIncomingCall> _limiter;

    /// <summary>Limits calls with <paramref name="limiter"/>; the interceptor does not own (dispose) it.</summary>
    public RpcRateLimitingInterceptor(PartitionedRateLimiter<RpcIncomingCall> limiter)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        _limiter = limiter;
    }

    /// <summary>The pushback sent when the limiter gives no retry-after. The default value is 1 second.</summary>
    public TimeSpan DefaultRetryAfter { get; init; } = TimeSpan.FromSeconds(1);

    /// <inheritdoc />
    public override async ValueTask InterceptAsync(RpcIncomingCall call, Func<RpcIncomingCall, ValueTask> next)
    {
        using RateLimitLease lease = _limiter.AttemptAcquire(call);
        if (!lease.IsAcquired)
        {
            TimeSpan retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan after) ? after : DefaultRetryAfter;
            throw new RpcException(RpcStatusCode.ResourceExhausted,
                $"'{call.Method.FullName}' is over its rate limit; retry in {retryAfter.TotalMilliseconds:0} ms. The request was not processed.")
            {
                NotProcessed = true,
                RetryAfter = retryAfter,
            };
        }

        await next(call).ConfigureAwait(false);
    }
}

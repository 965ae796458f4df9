using System;
using RpcGen.Protocol;

namespace RpcGen.Client.Internal;

/// <summary>
/// When a call must end: now + the method's timeout (<c>[Timeout]</c>, overridden by options; else the client's
/// <c>DefaultTimeout</c>), capped by the deadline of the call being served when a handler makes the call (deadline
/// propagation, through <see cref="CallPropagation"/>). Timestamps are on the client's <see cref="TimeProvider"/>; <see cref="long.MaxValue"/> means none.
/// </summary>
internal readonly struct CallDeadline
{
    private CallDeadline(long start, long timestamp, bool servingRetry, long inherited)
    {
        Start = start;
        Timestamp = timestamp;
        ServingRetry = servingRetry;
        Inherited = inherited;
    }

    /// <summary>When the call started (0 when neither a timeout nor a policy needs the clock).</summary>
    public long Start { get; }

    /// <summary>The deadline, or <see cref="long.MaxValue"/>.</summary>
    public long Timestamp { get; }

    /// <summary>The handler making this call serves a retry attempt: this call must not retry again (no amplification).</summary>
    public bool ServingRetry { get; }

    /// <summary>The deadline of the call being served, when a handler makes this call; else <see cref="long.MaxValue"/>.</summary>
    public long Inherited { get; }

    /// <summary>
    /// This deadline without the method's own timeout (only the inherited one): for a call that resumes a stream, whose
    /// first item may take as long as the feed is quiet.
    /// </summary>
    public CallDeadline WithoutOwnTimeout() => new(Start, Inherited, ServingRetry, Inherited);

    /// <summary>The deadline of a call of <paramref name="method"/> starting now; throws when the served call's deadline passed.</summary>
    public static CallDeadline Begin(RpcClientMethod method, TimeProvider time)
    {
        TimeSpan? scoped = RpcCallScope.CurrentTimeout();
        long now = method.TimeoutMilliseconds > 0 || method.Resilience is not null || scoped is not null ? time.GetTimestamp() : 0;
        long deadline = method.TimeoutMilliseconds > 0
            ? now + (method.TimeoutMilliseconds * time.TimestampFrequency / 1000)
            : long.MaxValue;
        bool servingRetry = false;
        long inherited = long.MaxValue;
        if (scoped is { } limit)
        {
            // The caller's scope caps the call as a served call's deadline does (a resumed stream keeps it too).
            inherited = limit.TotalDays > 3650 ? long.MaxValue : now + (long)(limit.TotalSeconds * time.TimestampFrequency);
            deadline = Math.Min(deadline, inherited);
        }

        if (CallPropagation.Current is { } served)
        {
            servingRetry = served.IsRetryAttempt;
            if (served.HasDeadline)
            {
                // Called from inside a handler: never outlive the call being served.
                TimeSpan left = served.Remaining;
                if (left <= TimeSpan.Zero)
                {
                    throw new RpcException(RpcStatusCode.DeadlineExceeded,
                        $"'{method.Descriptor.FullName}' was called after the deadline of the call being served ('{served.MethodName}') had passed.");
                }

                inherited = Math.Min(inherited, time.GetTimestamp() + (long)(left.TotalSeconds * time.TimestampFrequency));
                deadline = Math.Min(deadline, inherited);
            }
        }

        return new CallDeadline(now, deadline, servingRetry, inherited);
    }
}

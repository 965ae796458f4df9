using System;
using System.Threading;

namespace RpcGen.Protocol;

/// <summary>
/// What a call being served passes on to the calls its handler makes, as the request frame carried it: its deadline
/// and whether it is a retry attempt. The server sets it around a handler; the client reads it when a call starts.
/// </summary>
internal interface IPropagatedCall
{
    /// <summary>The served method's full name, for messages.</summary>
    string MethodName { get; }

    bool HasDeadline { get; }

    /// <summary>The time left until the served call's deadline (zero once passed).</summary>
    TimeSpan Remaining { get; }

    bool IsRetryAttempt { get; }
}

/// <summary>The call being served on this logical flow (an <see cref="AsyncLocal{T}"/>), or null outside a handler.</summary>
internal static class CallPropagation
{
    private static readonly AsyncLocal<IPropagatedCall?> s_current = new();

    public static IPropagatedCall? Current => s_current.Value;

    /// <summary>The time left until a deadline timestamp (zero once passed; <see cref="TimeSpan.MaxValue"/> for none: <see cref="long.MaxValue"/>).</summary>
    public static TimeSpan TimeLeft(TimeProvider time, long deadline)
    {
        if (deadline == long.MaxValue)
        {
            return TimeSpan.MaxValue;
        }

        TimeSpan left = time.GetElapsedTime(time.GetTimestamp(), deadline);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>Makes <paramref name="call"/> current; returns the previous one, to restore.</summary>
    public static IPropagatedCall? Enter(IPropagatedCall? call)
    {
        IPropagatedCall? previous = s_current.Value;
        s_current.Value = call;
        return previous;
    }
}

using System;
using System.Collections.Generic;

namespace RpcGen.Telemetry;

/// <summary>
/// The process's last <see cref="Capacity"/> notable events (an endpoint ejected or re-admitted, a circuit opened or
/// closed, discovery changed or went stale, policies reloaded, a GoAway received, a server draining), as channelz's
/// trace keeps them: the admin page's Events view. Recorded whether or not anyone looks, because they are rare (none on
/// a call's path) and the page opened after an incident must show it; a peer that causes many (abuse closes) only
/// overwrites older ones: the ring never grows.
/// </summary>
internal static class RecentEvents
{
    /// <summary>How many events are kept.</summary>
    public const int Capacity = 512;

    private static readonly RecentEvent[] s_ring = new RecentEvent[Capacity];
    private static readonly object s_lock = new();
    private static long s_next = 1;

    /// <summary>
    /// Records an event: <paramref name="kind"/> (a stable word: <c>ejected</c>, <c>circuit_opened</c>…), the client or
    /// server it happened in, what it is about (an endpoint, a connection) and a sentence.
    /// </summary>
    public static void Add(string kind, string source, string subject, string detail)
    {
        lock (s_lock)
        {
            long sequence = s_next++;
            s_ring[sequence % Capacity] = new RecentEvent(sequence, DateTimeOffset.UtcNow, kind, source, subject, detail);
        }
    }

    /// <summary>The sequence number the next event will get (events are numbered from 1).</summary>
    public static long Next
    {
        get
        {
            lock (s_lock)
            {
                return s_next;
            }
        }
    }

    /// <summary>
    /// The events numbered above <paramref name="after"/> that are still kept, oldest first, at most
    /// <paramref name="max"/> (the newest).
    /// </summary>
    public static List<RecentEvent> After(long after, int max)
    {
        var events = new List<RecentEvent>();
        lock (s_lock)
        {
            long first = Math.Max(Math.Max(after + 1, s_next - Capacity), s_next - max);
            for (long sequence = Math.Max(1, first); sequence < s_next; sequence++)
            {
                events.Add(s_ring[sequence % Capacity]);
            }
        }

        return events;
    }
}

/// <summary>One event of <see cref="RecentEvents"/>.</summary>
internal sealed record RecentEvent(long Sequence, DateTimeOffset Time, string Kind, string Source, string Subject, string Detail);

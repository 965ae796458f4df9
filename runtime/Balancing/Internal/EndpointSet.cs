using System;
using System.Collections.Generic;

namespace RpcGen.Balancing.Internal;

/// <summary>
/// The endpoints as balancers see them, rebuilt when the set or an endpoint's health changes. With endpoints of
/// several priorities it also holds the priority groups and the share of calls each takes (Envoy's priority levels):
/// a group's health is its healthy share times the overprovisioning factor (at most 100 %); the primary group takes
/// its health in calls, the next group the rest up to its own health, and so on; when the groups' health adds up to less
/// than 100 %, the shares are scaled up to fill it.
/// </summary>
internal sealed class EndpointSet
{
    public static readonly EndpointSet Empty = new(Array.Empty<RpcEndpointState>(), Array.Empty<RpcEndpointState>(), panic: false);

    public EndpointSet(RpcEndpointState[] all, RpcEndpointState[] candidates, bool panic, PriorityLevel[]? levels = null)
    {
        All = all;
        Candidates = candidates;
        Panic = panic;
        Levels = levels;
    }

    /// <summary>Every endpoint that has not been removed.</summary>
    public RpcEndpointState[] All { get; }

    /// <summary>The healthy endpoints with a weight above zero (of every priority), or all of them in panic.</summary>
    public RpcEndpointState[] Candidates { get; }

    public bool Panic { get; }

    /// <summary>The priority groups that take calls, with their cumulative shares; null when one group takes them all.</summary>
    public PriorityLevel[]? Levels { get; }

    /// <summary>
    /// The candidates of the group a call goes to, for <paramref name="draw"/> in [0, 10000): the groups' shares in
    /// basis points, cumulative. Without priority groups, every candidate.
    /// </summary>
    public RpcEndpointState[] CandidatesFor(int draw)
    {
        if (Levels is not { } levels)
        {
            return Candidates;
        }

        foreach (PriorityLevel level in levels)
        {
            if (draw < level.CumulativeShare)
            {
                return level.Candidates;
            }
        }

        return levels[^1].Candidates;
    }

    public static EndpointSet Build(IReadOnlyList<RpcEndpointState> endpoints, int panicThresholdPercent, double overprovisioning = 1.4)
    {
        var all = new List<RpcEndpointState>(endpoints.Count);
        var healthy = new List<RpcEndpointState>(endpoints.Count);
        int lowest = int.MaxValue, highest = int.MinValue;
        foreach (RpcEndpointState endpoint in endpoints)
        {
            if (endpoint.IsRemoved)
            {
                continue;
            }

            all.Add(endpoint);
            lowest = Math.Min(lowest, endpoint.Endpoint.Priority);
            highest = Math.Max(highest, endpoint.Endpoint.Priority);
            if (!endpoint.Health.IsEjected && endpoint.Endpoint.Weight > 0)
            {
                healthy.Add(endpoint);
            }
        }

        PriorityLevel[]? levels = null;
        bool panic;
        if (all.Count == 0 || healthy.Count == 0)
        {
            panic = all.Count > 0;
        }
        else if (lowest == highest)
        {
            panic = healthy.Count * 100 < all.Count * panicThresholdPercent;
        }
        else
        {
            // With priority groups, panic is judged on their combined health (each group's counted with the
            // overprovisioning factor, capped at 100 %): dead primaries with healthy backups are not a panic.
            levels = BuildLevels(all, healthy, overprovisioning, out double health);
            panic = health * 100 < panicThresholdPercent;
            levels = panic ? null : levels;
        }

        return new EndpointSet(all.ToArray(), panic ? all.ToArray() : healthy.ToArray(), panic, levels);
    }

    private static PriorityLevel[]? BuildLevels(List<RpcEndpointState> all, List<RpcEndpointState> healthy, double overprovisioning, out double totalHealth)
    {
        var distinct = new SortedSet<int>();
        foreach (RpcEndpointState endpoint in all)
        {
            distinct.Add(endpoint.Endpoint.Priority);
        }

        int[] priorities = new int[distinct.Count];
        distinct.CopyTo(priorities);
        var groups = new List<(RpcEndpointState[] Healthy, double Health)>(priorities.Length);
        foreach (int priority in priorities)
        {
            int total = 0;
            var members = new List<RpcEndpointState>();
            foreach (RpcEndpointState endpoint in all)
            {
                total += endpoint.Endpoint.Priority == priority ? 1 : 0;
            }

            foreach (RpcEndpointState endpoint in healthy)
            {
                if (endpoint.Endpoint.Priority == priority)
                {
                    members.Add(endpoint);
                }
            }

            groups.Add((members.ToArray(), Math.Min(1.0, overprovisioning * members.Count / total)));
        }

        // Shares: each group takes its health out of what the groups before it left; scaled up when they add to less.
        var shares = new double[groups.Count];
        double left = 1.0, assigned = 0;
        for (int i = 0; i < groups.Count; i++)
        {
            shares[i] = Math.Min(left, groups[i].Health);
            left -= shares[i];
            assigned += shares[i];
        }

        totalHealth = assigned;

        if (assigned <= 0)
        {
            return null;
        }

        var levels = new List<PriorityLevel>(groups.Count);
        int cumulative = 0;
        for (int i = 0; i < groups.Count; i++)
        {
            int basisPoints = (int)Math.Round(shares[i] / assigned * 10_000);
            if (basisPoints <= 0 || groups[i].Healthy.Length == 0)
            {
                continue;
            }

            cumulative = Math.Min(10_000, cumulative + basisPoints);
            levels.Add(new PriorityLevel(groups[i].Healthy, cumulative, priorities[i]));
        }

        if (levels.Count == 0)
        {
            return null;
        }

        levels[^1] = levels[^1] with { CumulativeShare = 10_000 }; // rounding never leaves a gap at the top
        return levels.Count == 1 && levels[0].Candidates.Length == healthy.Count ? null : levels.ToArray();
    }
}

/// <summary>A priority group that takes calls: its healthy endpoints and its cumulative share in basis points.</summary>
internal sealed record PriorityLevel(RpcEndpointState[] Candidates, int CumulativeShare, int Priority);

using System;
using System.Collections.Generic;
using System.Threading;

namespace RpcGen.Balancing.Internal;

/// <summary>
/// Consistent hashing on a ring: each endpoint owns <see cref="PointsPerMeanWeight"/> × weight / (the set's mean
/// weight) points placed by a stable hash of its address (weights are relative, as for every strategy: three endpoints
/// of weight 1, as SRV records often say, spread keys as three of weight 100 do), and a key goes to the owner of the first point at or after the key's hash. Adding or
/// removing one of N endpoints moves about 1/N of the keys. The ring covers every endpoint of the set; an ejected or
/// already-tried endpoint is skipped by walking on, so health changes move only that endpoint's keys.
/// <para>
/// Bounded load (Mirrokni et al., "Consistent Hashing with Bounded Loads"): an endpoint with more calls in flight than
/// ⌈c × (all calls in flight + 1) / candidates⌉ passes the key on to the next point's owner, so one hot key cannot
/// overload its owner. c is <see cref="LoadBalancingOptions.ConsistentHashLoadFactor"/>.
/// </para>
/// Lookup is a binary search over the ring: O(log(points)), no allocation; the ring is rebuilt only when the set changes.
/// </summary>
internal sealed class ConsistentHashLoadBalancer : ILoadBalancer
{
    public const int PointsPerMeanWeight = 160;

    private readonly double _loadFactor;
    private readonly object _lock = new();
    private Ring? _ring;

    public ConsistentHashLoadBalancer(double loadFactor) => _loadFactor = loadFactor;

    public string Name => nameof(LoadBalanceStrategy.ConsistentHash);

    public RpcEndpointState? Pick(in LoadBalancingContext context)
    {
        ReadOnlySpan<RpcEndpointState> candidates = context.Candidates;
        if (candidates.Length == 0)
        {
            return null;
        }

        object identity = context.Set is { } set ? set.All : null!;
        Ring ring = GetRing(context, identity);
        if (ring.Points.Length == 0)
        {
            return candidates[0];
        }

        int start = ring.IndexOf(context.HashKey);
        long capacity = long.MaxValue;
        if (!double.IsPositiveInfinity(_loadFactor))
        {
            long total = context.TotalInFlight;
            if (total < 0)
            {
                total = 0;
                foreach (RpcEndpointState candidate in candidates)
                {
                    total += candidate.InFlight;
                }
            }

            capacity = (long)Math.Ceiling(_loadFactor * (total + 1) / candidates.Length);
        }

        RpcEndpointState? firstCandidate = null;
        int points = ring.Points.Length;
        for (int step = 0; step < points; step++)
        {
            int index = start + step;
            if (index >= points)
            {
                index -= points;
            }

            RpcEndpointState owner = ring.Owners[index];
            if (!context.IsCandidate(owner))
            {
                continue;
            }

            if (owner.InFlight < capacity)
            {
                return owner;
            }

            firstCandidate ??= owner;
        }

        return firstCandidate ?? candidates[0];
    }

    /// <summary>
    /// The endpoint that owns <paramref name="hashKey"/> on the current ring, before ejections, exclusions and the load
    /// bound move it (for the attempt's span event: a pick elsewhere is a spill); null before the first pick.
    /// </summary>
    internal RpcEndpointState? HomeOf(ulong hashKey)
    {
        Ring? ring = Volatile.Read(ref _ring);
        return ring is { Points.Length: > 0 } ? ring.Owners[ring.IndexOf(hashKey)] : null;
    }

    private Ring GetRing(in LoadBalancingContext context, object? identity)
    {
        Ring? ring = Volatile.Read(ref _ring);
        if (ring is not null && (identity is not null ? ReferenceEquals(ring.Identity, identity) : ring.HasMembers(context.Candidates)))
        {
            return ring;
        }

        RpcEndpointState[] members = context.Set is { } set ? set.All : context.Candidates.ToArray();
        ring = Ring.Build(members, identity);
        lock (_lock)
        {
            _ring = ring;
        }

        return ring;
    }

    internal sealed class Ring
    {
        private Ring(ulong[] points, RpcEndpointState[] owners, RpcEndpointState[] members, object? identity)
        {
            Points = points;
            Owners = owners;
            Members = members;
            Identity = identity;
        }

        public RpcEndpointState[] Members { get; }

        /// <summary>True when the ring was built from exactly these endpoints (contexts built outside the runtime).</summary>
        public bool HasMembers(ReadOnlySpan<RpcEndpointState> candidates)
        {
            if (Identity is not null || candidates.Length != Members.Length)
            {
                return false;
            }

            for (int i = 0; i < candidates.Length; i++)
            {
                if (!ReferenceEquals(candidates[i], Members[i]))
                {
                    return false;
                }
            }

            return true;
        }

        public ulong[] Points { get; }

        public RpcEndpointState[] Owners { get; }

        public object? Identity { get; }

        public static Ring Build(RpcEndpointState[] members, object? identity)
        {
            var entries = new List<(ulong Point, RpcEndpointState Owner)>();
            double total = 0;
            int weighted = 0;
            foreach (RpcEndpointState member in members)
            {
                if (member.Endpoint.Weight > 0)
                {
                    total += member.Endpoint.Weight;
                    weighted++;
                }
            }

            double mean = weighted == 0 ? 1 : total / weighted;
            foreach (RpcEndpointState member in members)
            {
                int count = (int)Math.Round(PointsPerMeanWeight * member.Endpoint.Weight / mean);
                if (member.Endpoint.Weight > 0)
                {
                    count = Math.Max(count, 1);
                }

                string address = member.Endpoint.ToString();
                for (int i = 0; i < count; i++)
                {
                    entries.Add((RpcHash.String(address + "#" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)), member));
                }
            }

            entries.Sort(static (a, b) => a.Point.CompareTo(b.Point));
            var points = new ulong[entries.Count];
            var owners = new RpcEndpointState[entries.Count];
            for (int i = 0; i < entries.Count; i++)
            {
                points[i] = entries[i].Point;
                owners[i] = entries[i].Owner;
            }

            return new Ring(points, owners, members, identity);
        }

        /// <summary>The first point at or after <paramref name="hash"/>, wrapping around.</summary>
        public int IndexOf(ulong hash)
        {
            int index = Array.BinarySearch(Points, hash);
            if (index < 0)
            {
                index = ~index;
            }

            return index == Points.Length ? 0 : index;
        }
    }
}

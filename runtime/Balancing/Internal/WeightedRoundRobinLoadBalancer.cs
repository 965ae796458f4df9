using System;
using System.Threading;

namespace RpcGen.Balancing.Internal;

/// <summary>
/// Smooth weighted round-robin (nginx's, as Dubbo does it): each pick adds every candidate's weight to its running
/// score, takes the highest score and subtracts the total from it. Weights 5:1:1 give a a b a c a a, not a a a a a b c.
/// Scores live in an array indexed by endpoint id and change with interlocked operations: no lock.
/// </summary>
internal sealed class WeightedRoundRobinLoadBalancer : ILoadBalancer
{
    private long[] _scores = new long[16];

    public string Name => nameof(LoadBalanceStrategy.WeightedRoundRobin);

    public RpcEndpointState? Pick(in LoadBalancingContext context)
    {
        ReadOnlySpan<RpcEndpointState> candidates = context.Candidates;
        if (candidates.Length == 0)
        {
            return null;
        }

        long[] scores = Scores(candidates);
        long total = 0;
        long best = long.MinValue;
        RpcEndpointState? chosen = null;
        foreach (RpcEndpointState candidate in candidates)
        {
            long weight = (long)Math.Round(candidate.GetWeight(context.Timestamp) * 100);
            total += weight;
            long score = Interlocked.Add(ref scores[candidate.Id], weight);
            if (score > best)
            {
                best = score;
                chosen = candidate;
            }
        }

        Interlocked.Add(ref scores[chosen!.Id], -total);
        return chosen;
    }

    private long[] Scores(ReadOnlySpan<RpcEndpointState> candidates)
    {
        long[] scores = Volatile.Read(ref _scores);
        int maxId = 0;
        foreach (RpcEndpointState candidate in candidates)
        {
            maxId = Math.Max(maxId, candidate.Id);
        }

        while (maxId >= scores.Length)
        {
            long[] bigger = new long[Math.Max(scores.Length * 2, maxId + 1)];
            Array.Copy(scores, bigger, scores.Length);
            long[] seen = Interlocked.CompareExchange(ref _scores, bigger, scores);
            scores = ReferenceEquals(seen, scores) ? bigger : seen;
        }

        return scores;
    }
}

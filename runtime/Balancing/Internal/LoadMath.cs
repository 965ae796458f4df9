using System;

namespace RpcGen.Balancing.Internal;

/// <summary>Shared arithmetic of the load-aware strategies.</summary>
internal static class LoadMath
{
    /// <summary>(load + 1) / weight: an endpoint with twice the weight is as attractive with twice the calls.</summary>
    public static double Cost(RpcEndpointState endpoint, long timestamp)
    {
        double weight = endpoint.GetWeight(timestamp);
        return weight <= 0 ? double.MaxValue : (endpoint.Load + 1) * 100 / weight;
    }

    /// <summary>
    /// Two distinct random candidates for a power-of-two-choices pick. With fewer than two candidates, returns false
    /// and the only one (or null) in <paramref name="only"/>.
    /// </summary>
    public static bool TryPickTwo(Random random, ReadOnlySpan<RpcEndpointState> candidates, out RpcEndpointState? only, out RpcEndpointState first, out RpcEndpointState second)
    {
        if (candidates.Length < 2)
        {
            only = candidates.Length == 0 ? null : candidates[0];
            first = second = null!;
            return false;
        }

        int a = random.Next(candidates.Length);
        int b = random.Next(candidates.Length - 1);
        if (b >= a)
        {
            b++;
        }

        only = null;
        first = candidates[a];
        second = candidates[b];
        return true;
    }
}

using System.Collections.Generic;

namespace RpcGen.Balancing.Internal;

/// <summary>The endpoints a call has already tried: a bit mask for the first 64 ids, a set beyond (retry path only).</summary>
internal readonly struct TriedEndpoints
{
    private readonly ulong _low;
    private readonly HashSet<int>? _high;

    private TriedEndpoints(ulong low, HashSet<int>? high)
    {
        _low = low;
        _high = high;
    }

    public bool IsEmpty => _low == 0 && _high is null;

    /// <summary>How many endpoints were tried (for the attempt's span event).</summary>
    public int Count => System.Numerics.BitOperations.PopCount(_low) + (_high?.Count ?? 0);

    public bool Contains(int id) => id < 64 ? (_low & (1UL << id)) != 0 : _high?.Contains(id) == true;

    public TriedEndpoints Add(int id)
    {
        if (id < 64)
        {
            return new TriedEndpoints(_low | (1UL << id), _high);
        }

        var high = _high is null ? new HashSet<int>() : new HashSet<int>(_high);
        high.Add(id);
        return new TriedEndpoints(_low, high);
    }
}

using System;
using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Server.Deduplication;

/// <summary>
/// The default store: call ids and answers in this process's memory, gone when it stops. Bounded by entries, bytes of
/// answers and age; when a bound is reached the oldest answers go first (a repeat of one of those runs again; the
/// store counts them as evicted), and a store holding nothing but live claims refuses new ones
/// (<see cref="DeduplicationClaimStatus.Full"/>). Leases do not apply: a claim lives as long as this process, which is
/// the only one that sees it. One lock: only deduplicated calls come here, and every operation completes synchronously.
/// </summary>
public sealed class MemoryDeduplicationStore : IDeduplicationStore
{
    private readonly DeduplicationIndex _index;
    private readonly TimeProvider _time;
    private long _nextToken;

    /// <summary>Creates a store.</summary>
    /// <param name="capacity">The most call ids kept; at least 1.</param>
    /// <param name="maxBytes">The most bytes of answers kept; 0 or more.</param>
    /// <param name="window">How long an answer is kept; positive.</param>
    /// <param name="timeProvider">The clock (tests pass a fake one); the system's when null.</param>
    public MemoryDeduplicationStore(
        int capacity = 10_000, long maxBytes = 64L * 1024 * 1024, TimeSpan? window = null, TimeProvider? timeProvider = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        TimeSpan age = window ?? DeduplicationOptions.DefaultWindow;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(age, TimeSpan.Zero, nameof(window));
        _time = timeProvider ?? TimeProvider.System;
        _index = new DeduplicationIndex(capacity, maxBytes, (long)Math.Min(age.TotalSeconds * _time.TimestampFrequency, long.MaxValue / 2));
    }

    /// <inheritdoc/>
    public string Name => "memory";

    /// <summary>Call ids held (claims and answers).</summary>
    public int Count
    {
        get
        {
            lock (_index)
            {
                return _index.Count;
            }
        }
    }

    /// <summary>Bytes of stored answers.</summary>
    public long Bytes
    {
        get
        {
            lock (_index)
            {
                return _index.Bytes;
            }
        }
    }

    /// <summary>Places in the eviction queue, live or not (bounded: twice the entries, plus 64).</summary>
    internal int Queued
    {
        get
        {
            lock (_index)
            {
                return _index.Queued;
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<DeduplicationClaim> ClaimAsync(DeduplicationKey key, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        lock (_index)
        {
            long now = _time.GetTimestamp();
            if (_index.TryGetLive(key.CallId, now, out DeduplicationEntry? existing, out DeduplicationEntry? expired))
            {
                if (existing!.Method != key.Method || existing.Fingerprint != key.Fingerprint)
                {
                    return new(DeduplicationClaim.Conflict);
                }

                return new(existing.Record is { } record ? DeduplicationClaim.Completed(record) : DeduplicationClaim.Running);
            }

            if (expired is not null)
            {
                _index.Remove(expired);
            }

            if (!_index.MakeRoom(now, needPlace: true))
            {
                return new(DeduplicationClaim.Full);
            }

            var entry = new DeduplicationEntry(key.CallId, key.Method, key.Fingerprint, ++_nextToken);
            _index.Add(entry);
            return new(DeduplicationClaim.Claimed(entry.Token));
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> RenewAsync(Guid callId, long token, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        lock (_index)
        {
            return new(_index.TryGet(callId, out DeduplicationEntry? entry) && entry!.Token == token && entry.Record is null);
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> CompleteAsync(Guid callId, long token, DeduplicationRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        lock (_index)
        {
            if (!_index.TryGet(callId, out DeduplicationEntry? entry) || entry!.Token != token)
            {
                return new(false);
            }

            if (entry.Record is null)
            {
                long now = _time.GetTimestamp();
                _index.Complete(entry, record, now);
                _index.MakeRoom(now, needPlace: false);
            }

            return new(true); // completed now, or by this claim already (in the handler's transaction): the first answer stays
        }
    }

    /// <inheritdoc/>
    public ValueTask AbandonAsync(Guid callId, long token, CancellationToken cancellationToken = default)
    {
        lock (_index)
        {
            if (_index.TryGet(callId, out DeduplicationEntry? entry) && entry!.Token == token && entry.Record is null)
            {
                _index.Remove(entry);
            }
        }

        return default;
    }

    /// <inheritdoc/>
    public ValueTask<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        lock (_index)
        {
            int before = _index.Count;
            _index.MakeRoom(_time.GetTimestamp(), needPlace: false);
            return new(before - _index.Count);
        }
    }

    /// <inheritdoc/>
    public ValueTask<DeduplicationStoreStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        lock (_index)
        {
            bool full = _index.Full;
            return new(new DeduplicationStoreStatus(
                full ? DeduplicationStoreHealth.Degraded : DeduplicationStoreHealth.Healthy,
                full ? "in memory, full: the oldest answers go before their window ends" : "in memory (lost when the process stops)",
                _index.Count, _index.Capacity, _index.Bytes, _index.MaxBytes, _index.Evicted));
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => default;
}

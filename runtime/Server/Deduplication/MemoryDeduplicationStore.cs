using System;
using System.Collections.Generic;
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
    private readonly Dictionary<Guid, Entry> _entries = new();
    private readonly Queue<Entry> _order = new();
    private readonly int _capacity;
    private readonly long _maxBytes;
    private readonly long _maxAgeTicks;
    private readonly TimeProvider _time;
    private long _bytes;
    private long _nextToken;
    private long _evicted;

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
        _capacity = capacity;
        _maxBytes = maxBytes;
        _time = timeProvider ?? TimeProvider.System;
        _maxAgeTicks = (long)Math.Min(age.TotalSeconds * _time.TimestampFrequency, long.MaxValue / 2);
    }

    /// <inheritdoc/>
    public string Name => "memory";

    /// <summary>Call ids held (claims and answers).</summary>
    public int Count
    {
        get
        {
            lock (_entries)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Bytes of stored answers.</summary>
    public long Bytes
    {
        get
        {
            lock (_entries)
            {
                return _bytes;
            }
        }
    }

    /// <summary>Places in the eviction queue, live or not (bounded: twice the entries, plus 64).</summary>
    internal int Queued
    {
        get
        {
            lock (_entries)
            {
                return _order.Count;
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<DeduplicationClaim> ClaimAsync(DeduplicationKey key, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        lock (_entries)
        {
            long now = _time.GetTimestamp();
            if (_entries.TryGetValue(key.CallId, out Entry? existing) && !Expired(existing, now))
            {
                if (existing.Method != key.Method || existing.Fingerprint != key.Fingerprint)
                {
                    return new(DeduplicationClaim.Conflict);
                }

                return new(existing.Record is { } record ? DeduplicationClaim.Completed(record) : DeduplicationClaim.Running);
            }

            if (existing is not null)
            {
                Remove(existing);
            }

            if (!MakeRoom(now, needPlace: true))
            {
                return new(DeduplicationClaim.Full);
            }

            var entry = new Entry(key.CallId, key.Method, key.Fingerprint, ++_nextToken);
            _entries[key.CallId] = entry;
            _order.Enqueue(entry);
            if (_order.Count > (2 * _entries.Count) + 64)
            {
                Compact(); // abandoned claims leave their place in the queue: without this, a flood of them grows it
            }

            return new(DeduplicationClaim.Claimed(entry.Token));
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> RenewAsync(Guid callId, long token, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        lock (_entries)
        {
            return new(_entries.TryGetValue(callId, out Entry? entry) && entry.Token == token && entry.Record is null);
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> CompleteAsync(Guid callId, long token, DeduplicationRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        lock (_entries)
        {
            if (!_entries.TryGetValue(callId, out Entry? entry) || entry.Token != token)
            {
                return new(false);
            }

            if (entry.Record is not null)
            {
                return new(true); // completed by this claim already (in the handler's transaction): the first answer stays
            }

            entry.Record = record;
            entry.CompletedAt = _time.GetTimestamp();
            _bytes += record.Size;
            MakeRoom(entry.CompletedAt, needPlace: false);
            return new(true);
        }
    }

    /// <inheritdoc/>
    public ValueTask AbandonAsync(Guid callId, long token, CancellationToken cancellationToken = default)
    {
        lock (_entries)
        {
            if (_entries.TryGetValue(callId, out Entry? entry) && entry.Token == token && entry.Record is null)
            {
                _entries.Remove(callId); // its place in the queue is skipped when reached
            }
        }

        return default;
    }

    /// <inheritdoc/>
    public ValueTask<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        lock (_entries)
        {
            int before = _entries.Count;
            MakeRoom(_time.GetTimestamp(), needPlace: false);
            return new(before - _entries.Count);
        }
    }

    /// <inheritdoc/>
    public ValueTask<DeduplicationStoreStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        lock (_entries)
        {
            bool full = _entries.Count >= _capacity || _bytes >= _maxBytes;
            return new(new DeduplicationStoreStatus(
                full ? DeduplicationStoreHealth.Degraded : DeduplicationStoreHealth.Healthy,
                full ? "in memory, full: the oldest answers go before their window ends" : "in memory (lost when the process stops)",
                _entries.Count, _capacity, _bytes, _maxBytes, Interlocked.Read(ref _evicted)));
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => default;

    private bool Expired(Entry entry, long now) => entry.Record is not null && now - entry.CompletedAt > _maxAgeTicks;

    /// <summary>
    /// Drops expired answers from the front, then the oldest answers while a bound is exceeded (a new claim needs one
    /// free place: <paramref name="needPlace"/>). Live claims stay: one met at the front goes to the back. False when no
    /// place could be made.
    /// </summary>
    private bool MakeRoom(long now, bool needPlace)
    {
        int limit = needPlace ? _capacity - 1 : _capacity;
        int skipped = 0;
        while (_order.Count > 0 && skipped < _order.Count)
        {
            Entry oldest = _order.Peek();
            if (!_entries.TryGetValue(oldest.Id, out Entry? current) || !ReferenceEquals(current, oldest))
            {
                _order.Dequeue(); // abandoned, or replaced after it expired
                continue;
            }

            bool over = _entries.Count > limit || _bytes > _maxBytes;
            if (Expired(oldest, now))
            {
                _order.Dequeue();
                Remove(oldest);
                continue;
            }

            if (!over)
            {
                break;
            }

            _order.Dequeue();
            if (oldest.Record is null)
            {
                _order.Enqueue(oldest); // a claim still running: kept
                skipped++;
                continue;
            }

            Remove(oldest);
            _evicted++;
        }

        return _entries.Count <= limit;
    }

    private void Compact()
    {
        int count = _order.Count;
        for (int i = 0; i < count; i++)
        {
            Entry entry = _order.Dequeue();
            if (_entries.TryGetValue(entry.Id, out Entry? current) && ReferenceEquals(current, entry))
            {
                _order.Enqueue(entry);
            }
        }
    }

    private void Remove(Entry entry)
    {
        _entries.Remove(entry.Id);
        _bytes -= entry.Record?.Size ?? 0;
    }

    private sealed class Entry
    {
        public Entry(Guid id, string method, UInt128 fingerprint, long token)
        {
            Id = id;
            Method = method;
            Fingerprint = fingerprint;
            Token = token;
        }

        public Guid Id { get; }

        public string Method { get; }

        public UInt128 Fingerprint { get; }

        public long Token { get; }

        public DeduplicationRecord? Record;
        public long CompletedAt;
    }
}

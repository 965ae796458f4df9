using System;
using System.Collections.Generic;

namespace RpcGen.Server.Deduplication;

/// <summary>
/// The in-process index of the memory and file stores: call ids and their entries, the order they were claimed in,
/// and the bounds (entries, bytes of answers, age) that evict the oldest answers first and never a live claim. Not
/// thread-safe: each store holds its own lock around it. Times are in whatever unit the store gives (timestamp ticks,
/// or milliseconds), the same for <c>now</c>, <see cref="DeduplicationEntry.CompletedAt"/> and the window.
/// </summary>
internal sealed class DeduplicationIndex
{
    private readonly Dictionary<Guid, DeduplicationEntry> _entries = new();
    private readonly Queue<DeduplicationEntry> _order = new();
    private readonly int _capacity;
    private readonly long _maxBytes;
    private readonly long _window;

    public DeduplicationIndex(int capacity, long maxBytes, long window)
    {
        _capacity = capacity;
        _maxBytes = maxBytes;
        _window = window;
    }

    public int Count => _entries.Count;

    public long Bytes { get; private set; }

    public long Evicted { get; private set; }

    /// <summary>Places in the claim-order queue, live or not (bounded: twice the entries, plus 64).</summary>
    public int Queued => _order.Count;

    /// <summary>True when a bound is reached.</summary>
    public bool Full => _entries.Count >= _capacity || Bytes >= _maxBytes;

    public int Capacity => _capacity;

    public long MaxBytes => _maxBytes;

    /// <summary>Called for each entry the bounds or the window remove (the file store journals it).</summary>
    public Action<DeduplicationEntry>? Removed { get; set; }

    /// <summary>The live entry of <paramref name="id"/>: present and not past its window at <paramref name="now"/>.</summary>
    public bool TryGetLive(Guid id, long now, out DeduplicationEntry? entry, out DeduplicationEntry? expired)
    {
        expired = null;
        if (_entries.TryGetValue(id, out entry) && !Expired(entry, now))
        {
            return true;
        }

        (expired, entry) = (entry, null);
        return false;
    }

    public bool TryGet(Guid id, out DeduplicationEntry? entry) => _entries.TryGetValue(id, out entry);

    /// <summary>Adds a claim in claim order.</summary>
    public void Add(DeduplicationEntry entry)
    {
        _entries[entry.Id] = entry;
        _order.Enqueue(entry);
        if (_order.Count > (2 * _entries.Count) + 64)
        {
            // Abandoned claims leave their place in the queue: without this, a flood of them grows it.
            int count = _order.Count;
            for (int i = 0; i < count; i++)
            {
                DeduplicationEntry queued = _order.Dequeue();
                if (IsCurrent(queued))
                {
                    _order.Enqueue(queued);
                }
            }
        }
    }

    /// <summary>Records an answer on its claim.</summary>
    public void Complete(DeduplicationEntry entry, DeduplicationRecord record, long now)
    {
        entry.Record = record;
        entry.CompletedAt = now;
        Bytes += record.Size;
    }

    /// <summary>Forgets an entry (its place in the queue is skipped when reached).</summary>
    public void Remove(DeduplicationEntry entry)
    {
        if (_entries.TryGetValue(entry.Id, out DeduplicationEntry? current) && ReferenceEquals(current, entry))
        {
            _entries.Remove(entry.Id);
            Bytes -= entry.Record?.Size ?? 0;
        }
    }

    /// <summary>
    /// Drops answers past their window from the front, then the oldest answers while a bound is exceeded (a new claim
    /// needs one free place: <paramref name="needPlace"/>). Live claims stay: one met at the front goes to the back.
    /// False when no place could be made.
    /// </summary>
    public bool MakeRoom(long now, bool needPlace)
    {
        int limit = needPlace ? _capacity - 1 : _capacity;
        int skipped = 0;
        while (_order.Count > 0 && skipped < _order.Count)
        {
            DeduplicationEntry oldest = _order.Peek();
            if (!IsCurrent(oldest))
            {
                _order.Dequeue(); // abandoned, or replaced after it expired
                continue;
            }

            if (Expired(oldest, now))
            {
                _order.Dequeue();
                Drop(oldest);
                continue;
            }

            if (_entries.Count <= limit && Bytes <= _maxBytes)
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

            Drop(oldest);
            Evicted++;
        }

        return _entries.Count <= limit;
    }

    /// <summary>The live entries in claim order (for a snapshot).</summary>
    public IEnumerable<DeduplicationEntry> InOrder()
    {
        foreach (DeduplicationEntry entry in _order)
        {
            if (IsCurrent(entry))
            {
                yield return entry;
            }
        }
    }

    /// <summary>Every entry (for the claims a dead process left).</summary>
    public List<DeduplicationEntry> All() => new(_entries.Values);

    public bool Expired(DeduplicationEntry entry, long now) => entry.Record is not null && now - entry.CompletedAt > _window;

    private bool IsCurrent(DeduplicationEntry entry) =>
        _entries.TryGetValue(entry.Id, out DeduplicationEntry? current) && ReferenceEquals(current, entry);

    private void Drop(DeduplicationEntry entry)
    {
        Remove(entry);
        Removed?.Invoke(entry);
    }
}

/// <summary>A call id's claim and, once it ran, its answer.</summary>
internal sealed class DeduplicationEntry(Guid id, string method, UInt128 fingerprint, long token)
{
    public Guid Id { get; } = id;

    public string Method { get; } = method;

    public UInt128 Fingerprint { get; } = fingerprint;

    public long Token { get; } = token;

    public DeduplicationRecord? Record;
    public long CompletedAt;
}

using System;
using System.Collections.Generic;

namespace RpcGen.Server.Internal;

/// <summary>
/// The server side of <c>[Deduplicate]</c>: recent call ids and what their handler answered. A request whose id is
/// running waits for that run's answer; one whose id has finished gets the stored answer; neither runs the handler
/// again. Bounded by <see cref="DeduplicationOptions.Capacity"/> entries,
/// <see cref="DeduplicationOptions.MaxBytes"/> of stored results and <see cref="DeduplicationOptions.Window"/>
/// of age; the oldest go first (an evicted id that is retried later runs again). One lock: only deduplicated calls
/// come here.
/// </summary>
internal sealed class DeduplicationWindow
{
    private readonly Dictionary<Guid, Entry> _entries = new();
    private readonly Queue<Entry> _order = new();
    private readonly int _capacity;
    private readonly long _maxBytes;
    private readonly long _maxAgeTicks;
    private long _bytes;
    private readonly TimeProvider _time;

    public DeduplicationWindow(int capacity, long maxBytes, TimeSpan window, TimeProvider time)
    {
        _capacity = capacity;
        _maxBytes = maxBytes;
        _time = time;
        _maxAgeTicks = (long)(window.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>The bytes of stored responses.</summary>
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

    /// <summary>
    /// Registers a request with <paramref name="id"/>. Returns the new entry when the handler must run; null when the
    /// request was answered (from a finished entry) or will be (when the running one finishes).
    /// </summary>
    public Entry? Begin(Guid id, string method, ServerConnection connection, uint callId)
    {
        Entry? existing;
        lock (_entries)
        {
            long now = _time.GetTimestamp();
            Evict(now);
            if (!_entries.TryGetValue(id, out existing) || existing.Method != method)
            {
                if (existing is not null)
                {
                    _bytes -= existing.Response?.Length ?? 0; // the same id for another method replaces it
                }

                var entry = new Entry(id, method, now);
                _entries[id] = entry;
                _order.Enqueue(entry);
                return entry;
            }

            if (!existing.Completed)
            {
                (existing.Waiters ??= new List<(ServerConnection, uint)>()).Add((connection, callId));
                return null;
            }
        }

        existing.Reply(connection, callId);
        return null;
    }

    /// <summary>Stores the run's answer and sends it to the requests that waited for it.</summary>
    public void Complete(Entry entry, byte[]? response, RpcStatusCode code, string? message, int? pushback)
    {
        List<(ServerConnection, uint)>? waiters;
        lock (_entries)
        {
            entry.Response = response;
            if (response is not null && _entries.TryGetValue(entry.Id, out Entry? current) && ReferenceEquals(current, entry))
            {
                _bytes += response.Length;
            }

            entry.Code = code;
            entry.Message = message;
            entry.Pushback = pushback;
            entry.Completed = true;
            entry.CompletedAt = _time.GetTimestamp();
            waiters = entry.Waiters;
            entry.Waiters = null;
        }

        if (waiters is not null)
        {
            foreach ((ServerConnection connection, uint callId) in waiters)
            {
                entry.Reply(connection, callId);
            }
        }
    }

    /// <summary>
    /// Forgets a run that ended by cancellation (the client cancelled or its deadline passed): the handler gave up, so a
    /// retry may run it. Requests waiting for it are told to try again.
    /// </summary>
    public void Abandon(Entry entry, RpcStatusCode code, string message)
    {
        List<(ServerConnection, uint)>? waiters;
        lock (_entries)
        {
            if (_entries.TryGetValue(entry.Id, out Entry? current) && ReferenceEquals(current, entry))
            {
                _entries.Remove(entry.Id);
            }

            waiters = entry.Waiters;
            entry.Waiters = null;
        }

        if (waiters is not null)
        {
            foreach ((ServerConnection connection, uint callId) in waiters)
            {
                connection.SendError(callId, code, message);
            }
        }
    }

    private void Evict(long now)
    {
        while (_order.Count > 0)
        {
            Entry oldest = _order.Peek();
            bool stale = oldest.Completed && now - oldest.CompletedAt > _maxAgeTicks;
            if (_order.Count <= _capacity && _bytes <= _maxBytes && !stale)
            {
                return;
            }

            _order.Dequeue();
            if (_entries.TryGetValue(oldest.Id, out Entry? current) && ReferenceEquals(current, oldest))
            {
                _entries.Remove(oldest.Id);
                _bytes -= oldest.Response?.Length ?? 0;
            }
        }
    }

    internal sealed class Entry
    {
        public Entry(Guid id, string method, long created)
        {
            Id = id;
            Method = method;
            CompletedAt = created;
        }

        public Guid Id { get; }

        public string Method { get; }

        public bool Completed;
        public long CompletedAt;
        public byte[]? Response;
        public RpcStatusCode Code;
        public string? Message;
        public int? Pushback;
        public List<(ServerConnection Connection, uint CallId)>? Waiters;

        public void Reply(ServerConnection connection, uint callId)
        {
            if (Message is null)
            {
                connection.SendStoredResponse(callId, Response);
            }
            else
            {
                connection.SendError(callId, Code, Message, pushbackMs: Pushback);
            }
        }
    }
}

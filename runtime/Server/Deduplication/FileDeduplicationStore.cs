using System;
using System.Buffers;
using System.Buffers.Binary;
using System.IO;
using System.IO.Hashing;
using System.Text;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;

namespace RpcGen.Server.Deduplication;

/// <summary>
/// The store for one server that must remember across restarts, with no dependency: call ids and answers in memory,
/// every change appended to a journal file by a write loop that follows a millisecond behind (the changes of that
/// millisecond share one write), and the journal folded into a snapshot when it grows (and at every open). By default
/// operations do not wait for the write: a process killed in that moment (one to two milliseconds) loses the last changes, the same window
/// in which a process killed while a call runs makes that call run again when retried (this store cannot share the
/// handler's transaction). With <see cref="FileDeduplicationStoreOptions.FlushToDisk"/> every operation waits until its
/// change is written and flushed to disk (group-committed). One process uses a directory at a time (a lock file says
/// so); a process that opens it after a crash drops the claims the dead one held.
/// </summary>
public sealed class FileDeduplicationStore : IDeduplicationStore
{
    private const byte ClaimRecord = 1;
    private const byte CompleteRecord = 2;
    private const byte RemoveRecord = 3;
    private static readonly byte[] s_snapshotMagic = "RPCGDDS1"u8.ToArray();
    private static readonly byte[] s_journalMagic = "RPCGDDJ1"u8.ToArray();

    private readonly object _lock = new();
    private readonly DeduplicationIndex _index;
    private readonly string _directory;
    private readonly FileStream _lockFile;
    private readonly TimeProvider _time;
    private readonly bool _flushToDisk;
    private readonly Channel<bool> _signal =
        Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Task _flusher;
    private ArrayBufferWriter<byte> _pending = new(4096);
    private ArrayBufferWriter<byte> _spare = new(4096); // the flush loop writes one buffer while operations fill the other
    private TaskCompletionSource _nextFlush = NewFlush();
    private TaskCompletionSource? _writing;
    private FileStream _journal = null!;
    private long _generation;
    private long _journalBytes;
    private long _snapshotBytes;
    private Exception? _failure;
    private bool _disposed;

    /// <summary>
    /// Opens the store in <see cref="FileDeduplicationStoreOptions.Directory"/>: reads its snapshot and journal, then
    /// writes a fresh snapshot.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range, or the directory is not set.</exception>
    /// <exception cref="IOException">Another process uses the directory, or it cannot be read or written.</exception>
    public FileDeduplicationStore(FileDeduplicationStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Directory))
        {
            throw new ArgumentException("FileDeduplicationStoreOptions.Directory must name the store's directory.", nameof(options));
        }

        if (options.Window <= TimeSpan.Zero || options.Capacity < 1 || options.MaxBytes < 0)
        {
            throw new ArgumentException(
                "FileDeduplicationStoreOptions: Window must be positive, Capacity at least 1, MaxBytes 0 or more.", nameof(options));
        }

        _directory = Path.GetFullPath(options.Directory);
        System.IO.Directory.CreateDirectory(_directory);
        _time = options.TimeProvider ?? TimeProvider.System;
        _index = new DeduplicationIndex(options.Capacity, options.MaxBytes, (long)options.Window.TotalMilliseconds);
        _index.Removed = AppendRemove; // evictions and expiries are journaled, so a replay does not bring them back
        _flushToDisk = options.FlushToDisk;
        try
        {
            _lockFile = new FileStream(Path.Combine(_directory, "lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new IOException(
                $"The deduplication store in '{_directory}' is used by another process (its lock file is held); one process uses a store.", ex);
        }

        try
        {
            Load();
            Compact(); // a clean snapshot and an empty journal: a torn tail of the last run is gone
        }
        catch
        {
            _lockFile.Dispose(); // a store that could not open does not keep the directory from the next attempt
            throw;
        }

        _flusher = Task.Run(FlushLoopAsync);
    }

    /// <summary>The store's directory.</summary>
    public string Directory => _directory;

    /// <inheritdoc/>
    public string Name => "file";

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <inheritdoc/>
    public ValueTask<DeduplicationClaim> ClaimAsync(DeduplicationKey key, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key.Method);
        DeduplicationClaim result;
        Task durable;
        lock (_lock)
        {
            ThrowIfBroken();
            long now = Now;
            if (_index.TryGetLive(key.CallId, now, out DeduplicationEntry? existing, out DeduplicationEntry? expired))
            {
                result = existing!.Method != key.Method || existing.Fingerprint != key.Fingerprint
                    ? DeduplicationClaim.Conflict
                    : existing.Record is { } record ? DeduplicationClaim.Completed(record) : DeduplicationClaim.Running;
            }
            else
            {
                if (expired is not null)
                {
                    _index.Remove(expired);
                    AppendRemove(expired);
                }

                if (!_index.MakeRoom(now, needPlace: true))
                {
                    result = DeduplicationClaim.Full;
                }
                else
                {
                    var entry = new DeduplicationEntry(key.CallId, key.Method, key.Fingerprint, Random.Shared.NextInt64(1, long.MaxValue));
                    _index.Add(entry);
                    AppendClaim(entry);
                    result = DeduplicationClaim.Claimed(entry.Token);
                }
            }

            durable = Durable();
        }

        return durable.IsCompletedSuccessfully ? new(result) : AwaitAsync(durable, result);
    }

    /// <inheritdoc/>
    public ValueTask<bool> RenewAsync(Guid callId, long token, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return new(_index.TryGet(callId, out DeduplicationEntry? entry) && entry!.Token == token && entry.Record is null);
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> CompleteAsync(Guid callId, long token, DeduplicationRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        bool held;
        Task durable;
        lock (_lock)
        {
            ThrowIfBroken();
            held = _index.TryGet(callId, out DeduplicationEntry? entry) && entry!.Token == token;
            if (held && entry!.Record is null)
            {
                _index.Complete(entry, record, Now);
                AppendComplete(entry);
                _index.MakeRoom(entry.CompletedAt, needPlace: false);
            }

            durable = Durable();
        }

        return durable.IsCompletedSuccessfully ? new(held) : AwaitAsync(durable, held);
    }

    /// <inheritdoc/>
    public async ValueTask AbandonAsync(Guid callId, long token, CancellationToken cancellationToken = default)
    {
        Task durable;
        lock (_lock)
        {
            ThrowIfBroken();
            if (_index.TryGet(callId, out DeduplicationEntry? entry) && entry!.Token == token && entry.Record is null)
            {
                _index.Remove(entry);
                AppendRemove(entry);
            }

            durable = Durable();
        }

        await durable.ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        int removed;
        Task durable;
        lock (_lock)
        {
            ThrowIfBroken();
            int before = _index.Count;
            _index.MakeRoom(Now, needPlace: false);
            removed = before - _index.Count;
            durable = Durable();
        }

        await durable.ConfigureAwait(false);
        return removed;
    }

    /// <inheritdoc/>
    public ValueTask<DeduplicationStoreStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            long disk = _snapshotBytes + _journalBytes;
            if (_failure is { } failure)
            {
                return new(new DeduplicationStoreStatus(DeduplicationStoreHealth.Unhealthy,
                    $"files in {_directory}: writing failed: {failure.Message}", _index.Count, _index.Capacity, disk, 0, _index.Evicted));
            }

            bool full = _index.Full;
            return new(new DeduplicationStoreStatus(
                full ? DeduplicationStoreHealth.Degraded : DeduplicationStoreHealth.Healthy,
                full ? $"files in {_directory}, full: the oldest answers go before their window ends" : $"files in {_directory}",
                _index.Count, _index.Capacity, disk, 0, _index.Evicted));
        }
    }

    /// <summary>Writes what is pending, stops the writer and closes the files (the lock file last).</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _signal.Writer.TryComplete();
        await _flusher.ConfigureAwait(false);
        await _journal.DisposeAsync().ConfigureAwait(false);
        await _lockFile.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Completes once every change made so far is written (tests of the write-behind default).</summary>
    internal Task WrittenForTests()
    {
        lock (_lock)
        {
            if (_pending.WrittenCount > 0)
            {
                _signal.Writer.TryWrite(true);
                return _nextFlush.Task;
            }

            return _writing?.Task ?? Task.CompletedTask;
        }
    }

    /// <summary>What a crash leaves (tests): the files are closed as they are, nothing pending is written, the writer stops.</summary>
    internal void CrashForTests()
    {
        lock (_lock)
        {
            _disposed = true;
            _pending.Clear();
            _journal.Dispose();
            _lockFile.Dispose();
        }

        _signal.Writer.TryComplete();
    }

    private static TaskCompletionSource NewFlush() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static async ValueTask<T> AwaitAsync<T>(Task durable, T result)
    {
        await durable.ConfigureAwait(false);
        return result;
    }

    private void ThrowIfBroken()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_failure is { } failure)
        {
            throw new IOException($"The deduplication store in '{_directory}' could not write its journal: {failure.Message}", failure);
        }
    }

    /// <summary>
    /// What the caller waits for before answering. With <see cref="FileDeduplicationStoreOptions.FlushToDisk"/>: every
    /// record appended so far on disk. Without: nothing; the write loop writes behind, a millisecond later. Under the lock.
    /// </summary>
    private Task Durable()
    {
        if (_pending.WrittenCount > 0)
        {
            _signal.Writer.TryWrite(true);
            return _flushToDisk ? _nextFlush.Task : Task.CompletedTask;
        }

        return _flushToDisk ? _writing?.Task ?? Task.CompletedTask : Task.CompletedTask;
    }

    private async Task FlushLoopAsync()
    {
        while (await _signal.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (!_flushToDisk)
            {
                // Nobody waits for a write behind: let the changes of the next moment join this one (one write and one
                // wake-up per millisecond under load, instead of one per operation).
                await Task.Delay(1).ConfigureAwait(false);
            }

            _signal.Reader.TryRead(out _);
            Flush();
        }

        Flush(); // what came with the last operations before disposal
    }

    private void Flush()
    {
        ArrayBufferWriter<byte> data;
        TaskCompletionSource batch;
        lock (_lock)
        {
            if (_pending.WrittenCount == 0)
            {
                return;
            }

            data = _pending;
            _pending = _spare;
            batch = _nextFlush;
            _nextFlush = NewFlush();
            _writing = batch;
        }

        try
        {
            _journal.Write(data.WrittenSpan);
            _journal.Flush(_flushToDisk);
            batch.TrySetResult();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            lock (_lock)
            {
                _failure = ex; // every later operation fails: no answer may be given that is not on disk
            }

            batch.TrySetException(ex);
        }

        bool compact;
        lock (_lock)
        {
            if (ReferenceEquals(_writing, batch))
            {
                _writing = null;
            }

            _journalBytes += data.WrittenCount;
            data.ResetWrittenCount(); // its bytes are in the journal (or the store is broken): the next flush reuses it
            _spare = data.Capacity > 1024 * 1024 ? new ArrayBufferWriter<byte>(4096) : data; // a burst's buffer is not kept
            compact = _failure is null && _journalBytes > Math.Max(64L * 1024 * 1024, 4 * _snapshotBytes);
        }

        if (compact)
        {
            Compact();
        }
    }

    private void AppendRemove(DeduplicationEntry entry)
    {
        Span<byte> payload = Start(_pending, RemoveRecord, 16);
        entry.Id.TryWriteBytes(payload);
        Finish(_pending, payload.Length);
    }

    private void AppendClaim(DeduplicationEntry entry) => WriteClaim(_pending, entry);

    private void AppendComplete(DeduplicationEntry entry) => WriteComplete(_pending, entry);

    private static void WriteClaim(ArrayBufferWriter<byte> output, DeduplicationEntry entry)
    {
        int methodLength = Encoding.UTF8.GetByteCount(entry.Method);
        Span<byte> payload = Start(output, ClaimRecord, 16 + 8 + 16 + 2 + methodLength);
        entry.Id.TryWriteBytes(payload);
        BinaryPrimitives.WriteInt64LittleEndian(payload.Slice(16), entry.Token);
        BinaryPrimitives.WriteUInt128LittleEndian(payload.Slice(24), entry.Fingerprint);
        BinaryPrimitives.WriteUInt16LittleEndian(payload.Slice(40), (ushort)methodLength);
        Encoding.UTF8.GetBytes(entry.Method, payload.Slice(42));
        Finish(output, payload.Length);
    }

    private static void WriteComplete(ArrayBufferWriter<byte> output, DeduplicationEntry entry)
    {
        DeduplicationRecord record = entry.Record!;
        int messageLength = record.Message is null ? 0 : Encoding.UTF8.GetByteCount(record.Message);
        Span<byte> span = Start(output, CompleteRecord,
            16 + 8 + 2 + 1 + 4 + messageLength + 1 + 4 + 4 + record.Body.Length + 4 + record.Metadata.Length);
        entry.Id.TryWriteBytes(span);
        BinaryPrimitives.WriteInt64LittleEndian(span.Slice(16), entry.CompletedAt);
        BinaryPrimitives.WriteUInt16LittleEndian(span.Slice(24), (ushort)record.Status);
        int offset = 26;
        span[offset++] = record.Message is null ? (byte)0 : (byte)1;
        BinaryPrimitives.WriteInt32LittleEndian(span.Slice(offset), messageLength);
        offset += 4;
        if (record.Message is not null)
        {
            offset += Encoding.UTF8.GetBytes(record.Message, span.Slice(offset));
        }

        span[offset++] = record.PushbackMilliseconds is null ? (byte)0 : (byte)1;
        BinaryPrimitives.WriteInt32LittleEndian(span.Slice(offset), record.PushbackMilliseconds ?? 0);
        offset += 4;
        BinaryPrimitives.WriteInt32LittleEndian(span.Slice(offset), record.Body.Length);
        record.Body.Span.CopyTo(span.Slice(offset + 4));
        offset += 4 + record.Body.Length;
        BinaryPrimitives.WriteInt32LittleEndian(span.Slice(offset), record.Metadata.Length);
        record.Metadata.Span.CopyTo(span.Slice(offset + 4));
        Finish(output, span.Length);
    }

    /// <summary>
    /// Starts one record in <paramref name="output"/>: <c>u32</c> length of type + payload, <c>u32</c> CRC-32 of them
    /// (written by <see cref="Finish"/>), the type, then the payload, which the caller writes into the span returned.
    /// </summary>
    private static Span<byte> Start(ArrayBufferWriter<byte> output, byte type, int payloadLength)
    {
        Span<byte> span = output.GetSpan(9 + payloadLength);
        BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)(1 + payloadLength));
        span[8] = type;
        return span.Slice(9, payloadLength);
    }

    /// <summary>
    /// Ends the record <see cref="Start"/> began: its CRC, then the writer advances past it. The span asked for again is
    /// the one <see cref="Start"/> got: an <see cref="ArrayBufferWriter{T}"/> that had room for the record does not move.
    /// </summary>
    private static void Finish(ArrayBufferWriter<byte> output, int payloadLength)
    {
        Span<byte> span = output.GetSpan(9 + payloadLength);
        BinaryPrimitives.WriteUInt32LittleEndian(span.Slice(4), Crc32.HashToUInt32(span.Slice(8, 1 + payloadLength)));
        output.Advance(9 + payloadLength);
    }

    /// <summary>Reads the snapshot, then the journal of its generation up to its first torn or corrupt record.</summary>
    private void Load()
    {
        string snapshot = Path.Combine(_directory, "snapshot");
        if (File.Exists(snapshot))
        {
            byte[] bytes = File.ReadAllBytes(snapshot);
            if (bytes.Length < 16 || !bytes.AsSpan(0, 8).SequenceEqual(s_snapshotMagic))
            {
                throw new IOException($"'{snapshot}' is not a deduplication snapshot (wrong header).");
            }

            _generation = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8));
            Replay(bytes.AsSpan(16));
        }

        string journal = JournalPath(_generation);
        if (File.Exists(journal))
        {
            byte[] bytes = File.ReadAllBytes(journal);
            if (bytes.Length >= 16 && bytes.AsSpan(0, 8).SequenceEqual(s_journalMagic))
            {
                Replay(bytes.AsSpan(16));
            }
        }

        // The claims of the process that wrote these files died with it; answers past their window go now.
        long now = Now;
        foreach (DeduplicationEntry entry in _index.All())
        {
            if (entry.Record is null || _index.Expired(entry, now))
            {
                _index.Remove(entry);
            }
        }
    }

    private void Replay(ReadOnlySpan<byte> records)
    {
        while (records.Length >= 9)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(records);
            if (length < 1 || records.Length - 8 < length ||
                Crc32.HashToUInt32(records.Slice(8, length)) != BinaryPrimitives.ReadUInt32LittleEndian(records.Slice(4)))
            {
                return; // a torn tail (the process died mid-write) or corruption: what follows is not trusted
            }

            ReadOnlySpan<byte> payload = records.Slice(9, length - 1);
            switch (records[8])
            {
                case ClaimRecord:
                {
                    int methodLength = BinaryPrimitives.ReadUInt16LittleEndian(payload.Slice(40));
                    var entry = new DeduplicationEntry(
                        new Guid(payload.Slice(0, 16)), Encoding.UTF8.GetString(payload.Slice(42, methodLength)),
                        BinaryPrimitives.ReadUInt128LittleEndian(payload.Slice(24)), BinaryPrimitives.ReadInt64LittleEndian(payload.Slice(16)));
                    if (_index.TryGet(entry.Id, out DeduplicationEntry? replaced))
                    {
                        _index.Remove(replaced!);
                    }

                    _index.Add(entry);
                    break;
                }

                case CompleteRecord:
                    if (_index.TryGet(new Guid(payload.Slice(0, 16)), out DeduplicationEntry? completed) && completed!.Record is null)
                    {
                        // A record may come twice (in the snapshot and in the journal after it): the first one stays.
                        _index.Complete(completed, ReadRecord(payload), BinaryPrimitives.ReadInt64LittleEndian(payload.Slice(16)));
                    }

                    break;
                case RemoveRecord:
                    if (_index.TryGet(new Guid(payload.Slice(0, 16)), out DeduplicationEntry? removed))
                    {
                        _index.Remove(removed!);
                    }

                    break;
            }

            records = records.Slice(8 + length);
        }
    }

    private static DeduplicationRecord ReadRecord(ReadOnlySpan<byte> payload)
    {
        var status = (RpcStatusCode)BinaryPrimitives.ReadUInt16LittleEndian(payload.Slice(24));
        int offset = 26;
        bool hasMessage = payload[offset++] == 1;
        int messageLength = BinaryPrimitives.ReadInt32LittleEndian(payload.Slice(offset));
        offset += 4;
        string? message = hasMessage ? Encoding.UTF8.GetString(payload.Slice(offset, messageLength)) : null;
        offset += messageLength;
        bool hasPushback = payload[offset++] == 1;
        int pushback = BinaryPrimitives.ReadInt32LittleEndian(payload.Slice(offset));
        offset += 4;
        int bodyLength = BinaryPrimitives.ReadInt32LittleEndian(payload.Slice(offset));
        byte[] body = payload.Slice(offset + 4, bodyLength).ToArray();
        offset += 4 + bodyLength;
        int metadataLength = BinaryPrimitives.ReadInt32LittleEndian(payload.Slice(offset));
        byte[] metadata = payload.Slice(offset + 4, metadataLength).ToArray();
        return new DeduplicationRecord(status, message, hasPushback ? pushback : null, body, metadata);
    }

    private string JournalPath(long generation) => Path.Combine(_directory, $"journal.{generation}");

    /// <summary>
    /// Folds the state into a new snapshot (written beside, flushed to disk, then renamed over the old one) and starts
    /// the journal of its generation; the old journal goes last. A crash at any step leaves a snapshot and journal that
    /// together hold every record that was on disk.
    /// </summary>
    private void Compact()
    {
        var image = new ArrayBufferWriter<byte>(64 * 1024);
        long generation;
        lock (_lock)
        {
            // Only the flush loop (or the constructor, before it runs) writes the journal: nothing is being written now.
            generation = _generation + 1;
            image.Write(s_snapshotMagic);
            Span<byte> header = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(header, generation);
            image.Write(header);
            foreach (DeduplicationEntry entry in _index.InOrder())
            {
                WriteClaim(image, entry);
                if (entry.Record is not null)
                {
                    WriteComplete(image, entry);
                }
            }
        }

        string snapshot = Path.Combine(_directory, "snapshot");
        string temporary = snapshot + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(image.WrittenSpan);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, snapshot, overwrite: true);
        var journal = new FileStream(JournalPath(generation), FileMode.Create, FileAccess.Write, FileShare.Read);
        journal.Write(s_journalMagic);
        Span<byte> journalHeader = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(journalHeader, generation);
        journal.Write(journalHeader);
        journal.Flush(flushToDisk: true);
        FileStream? previous;
        lock (_lock)
        {
            previous = _journal;
            _journal = journal;
            _generation = generation;
            _snapshotBytes = image.WrittenCount;
            _journalBytes = 16;
        }

        previous?.Dispose();
        File.Delete(JournalPath(generation - 1));
    }
}

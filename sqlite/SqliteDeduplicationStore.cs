using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using Microsoft.Data.Sqlite;
using RpcGen.Server.Deduplication;

namespace RpcGen.Sqlite;

/// <summary>
/// A deduplication store in a SQLite database in WAL mode: answers survive restarts, and the servers of one machine
/// share it by naming the same file. Each process writes through one connection whose loop commits the operations
/// waiting at that moment together (group commit: one transaction for up to 256 claims and answers), so the store
/// keeps up with many concurrent calls. Claims expire after their lease; the table holds at most
/// <see cref="SqliteDeduplicationStoreOptions.Capacity"/> ids (the oldest answers go first). A handler that writes to
/// the same database stores its answer in its own transaction with <see cref="CompleteInTransaction"/>.
/// </summary>
public sealed partial class SqliteDeduplicationStore : IDeduplicationStore
{
    private const int MaxBatch = 256;
    private const int SweepChunk = 10_000;

    private readonly Channel<Operation> _queue = Channel.CreateUnbounded<Operation>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SqliteConnection _connection;
    private readonly Statements _statements;
    private readonly TimeProvider _time;
    private readonly long _windowMs;
    private readonly long _capacity;
    private readonly Task _writer;
    private long _count;
    private long _evicted;
    private string? _lastError;

    /// <summary>Opens (or creates) the store's table in <see cref="SqliteDeduplicationStoreOptions.Path"/>.</summary>
    /// <exception cref="ArgumentException">An option is out of range, or the path is empty.</exception>
    /// <exception cref="SqliteException">The database cannot be opened or is not a SQLite database.</exception>
    public SqliteDeduplicationStore(SqliteDeduplicationStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Path))
        {
            throw new ArgumentException("SqliteDeduplicationStoreOptions.Path must name the database file.", nameof(options));
        }

        if (options.Window <= TimeSpan.Zero || options.Capacity < 1)
        {
            throw new ArgumentException("SqliteDeduplicationStoreOptions: Window must be positive and Capacity at least 1.", nameof(options));
        }

        Path = System.IO.Path.GetFullPath(options.Path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _time = options.TimeProvider ?? TimeProvider.System;
        _windowMs = (long)options.Window.TotalMilliseconds;
        _capacity = options.Capacity;
        _connection = new SqliteConnection(ConnectionString(Path));
        _connection.Open();
        Schema.Create(_connection, options.FlushToDisk);
        _count = Schema.Count(_connection);
        _statements = new Statements(_connection);
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <inheritdoc/>
    public string Name => "sqlite";

    /// <summary>The connection string of the store's database, for a handler that opens its own connection to it.</summary>
    public string ConnectionString() => ConnectionString(Path);

    internal static string ConnectionString(string path) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        DefaultTimeout = 30, // seconds of retries while another process holds the database (SQLITE_BUSY)
    }.ToString();

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <inheritdoc/>
    public ValueTask<DeduplicationClaim> ClaimAsync(DeduplicationKey key, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key.Method);
        long leaseMs = (long)lease.TotalMilliseconds;
        return Enqueue(new Operation<DeduplicationClaim>((store, now) => store.Claim(key, now, leaseMs)));
    }

    /// <inheritdoc/>
    public ValueTask<bool> RenewAsync(Guid callId, long token, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        long leaseMs = (long)lease.TotalMilliseconds;
        return Enqueue(new Operation<bool>((store, now) => store._statements.Renew(callId, token, now + leaseMs, now + leaseMs + store._windowMs)));
    }

    /// <inheritdoc/>
    public ValueTask<bool> CompleteAsync(Guid callId, long token, DeduplicationRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        return Enqueue(new Operation<bool>((store, now) => store._statements.Complete(callId, token, record, now + store._windowMs)));
    }

    /// <inheritdoc/>
    public async ValueTask AbandonAsync(Guid callId, long token, CancellationToken cancellationToken = default) =>
        await Enqueue(new Operation<bool>((store, _) =>
        {
            bool removed = store._statements.Abandon(callId, token);
            store.Pending(removed ? -1 : 0);
            return removed;
        })).ConfigureAwait(false);

    /// <inheritdoc/>
    public async ValueTask<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        // In chunks, each its own transaction, so that claims waiting meanwhile are not held up by a long delete.
        int total = 0;
        int removed;
        do
        {
            cancellationToken.ThrowIfCancellationRequested();
            removed = await Enqueue(new Operation<int>((store, now) =>
            {
                int gone = store._statements.Sweep(now, SweepChunk);
                store.Pending(-gone);
                return gone;
            })).ConfigureAwait(false);
            total += removed;
        }
        while (removed == SweepChunk);

        // Other processes insert and delete too: the count is made exact again at each sweep.
        await Enqueue(new Operation<bool>((store, _) =>
        {
            store.Pending(store._statements.Count() - Volatile.Read(ref store._count));
            return true;
        })).ConfigureAwait(false);
        return total;
    }

    /// <inheritdoc/>
    public async ValueTask<DeduplicationStoreStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        // A round through the write loop proves the database answers (a lock held elsewhere would stall it).
        await Enqueue(new Operation<bool>((_, _) => true)).AsTask()
            .WaitAsync(TimeSpan.FromSeconds(5), _time, cancellationToken).ConfigureAwait(false);
        long count = Volatile.Read(ref _count);
        long bytes = FileLength(Path) + FileLength(Path + "-wal");
        string? error = Volatile.Read(ref _lastError);
        DeduplicationStoreHealth health = error is not null
            ? DeduplicationStoreHealth.Degraded
            : count >= _capacity ? DeduplicationStoreHealth.Degraded : DeduplicationStoreHealth.Healthy;
        string description = error is not null
            ? $"SQLite at {Path}: the last write failed: {error}"
            : count >= _capacity
                ? $"SQLite at {Path}, full: the oldest answers go before their window ends"
                : $"SQLite at {Path} (WAL)";
        return new DeduplicationStoreStatus(health, description, count, _capacity, bytes, 0, Interlocked.Read(ref _evicted));
    }

    /// <summary>Stops the write loop (after the operations already queued) and closes the database.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_queue.Writer.TryComplete())
        {
            return;
        }

        await _writer.ConfigureAwait(false);
        _statements.Dispose();
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    private static long FileLength(string path)
    {
        var file = new FileInfo(path);
        return file.Exists ? file.Length : 0;
    }

    private ValueTask<T> Enqueue<T>(Operation<T> operation)
    {
        if (!_queue.Writer.TryWrite(operation))
        {
            return ValueTask.FromException<T>(new ObjectDisposedException(nameof(SqliteDeduplicationStore)));
        }

        return new ValueTask<T>(operation.Task);
    }

    /// <summary>
    /// The single writer: takes what is queued (up to <see cref="MaxBatch"/>), runs it in one transaction, answers after
    /// the commit.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        var batch = new List<Operation>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out Operation? operation))
            {
                batch.Add(operation);
            }

            Run(batch);
            batch.Clear();
        }
    }

    private void Run(List<Operation> batch)
    {
        try
        {
            _statements.Begin();
            _pending = 0;
            long now = Now;
            foreach (Operation operation in batch)
            {
                operation.Execute(this, now);
            }

            _statements.Commit();
            Interlocked.Add(ref _count, _pending);
            Volatile.Write(ref _lastError, null);
            foreach (Operation operation in batch)
            {
                operation.Deliver();
            }
        }
        catch (Exception ex)
        {
            Volatile.Write(ref _lastError, ex.Message);
            try
            {
                _statements.Rollback();
            }
            catch (Exception)
            {
                // The database is gone or broken: the next BEGIN reports it.
            }

            if (batch.Count == 1)
            {
                batch[0].Fail(ex);
                return;
            }

            // One operation may be at fault: each runs alone, so the others are not failed with it.
            foreach (Operation operation in batch)
            {
                operation.Reset();
                Run(new List<Operation>(1) { operation });
            }
        }
    }

    private long _pending; // the change to _count made by the batch being written; applied once it commits

    private void Pending(long change) => _pending += change;

    private DeduplicationClaim Claim(DeduplicationKey key, long now, long leaseMs)
    {
        long token = Random.Shared.NextInt64(1, long.MaxValue);
        long leaseUntil = now + leaseMs;
        if (_statements.Insert(key, token, leaseUntil, leaseUntil + _windowMs))
        {
            Pending(1);
            if (Volatile.Read(ref _count) + _pending > _capacity && !MakeRoom())
            {
                _statements.Abandon(key.CallId, token);
                Pending(-1);
                return DeduplicationClaim.Full;
            }

            return DeduplicationClaim.Claimed(token);
        }

        Statements.Row row = _statements.Select(key.CallId);
        if (row.ExpiresAt < now)
        {
            // An answer past its window, or a claim whose server died and was never retried: gone, so a new run.
            _statements.Replace(key, token, leaseUntil, leaseUntil + _windowMs);
            return DeduplicationClaim.Claimed(token);
        }

        if (row.Method != key.Method || row.Fingerprint != key.Fingerprint)
        {
            return DeduplicationClaim.Conflict;
        }

        if (row.Record is { } record)
        {
            return DeduplicationClaim.Completed(record);
        }

        if (row.LeaseUntil < now && _statements.TakeOver(key.CallId, row.Token, token, leaseUntil, leaseUntil + _windowMs))
        {
            return DeduplicationClaim.Claimed(token);
        }

        return DeduplicationClaim.Running;
    }

    /// <summary>Drops the oldest answers to make room (a thousandth of the capacity at a time); false when only live claims are left.</summary>
    private bool MakeRoom()
    {
        int evicted = _statements.EvictOldest((int)Math.Clamp(_capacity / 1000, 1, 1000));
        if (evicted > 0)
        {
            Interlocked.Add(ref _evicted, evicted);
            Pending(-evicted);
            return true;
        }

        // Nothing to evict by this process's count: count again (other processes delete too).
        long exact = _statements.Count();
        Pending(exact - (Volatile.Read(ref _count) + _pending));
        return exact <= _capacity;
    }

    /// <summary>An operation waiting for the write loop; its result is delivered only after its transaction committed.</summary>
    private abstract class Operation
    {
        public abstract void Execute(SqliteDeduplicationStore store, long now);

        public abstract void Deliver();

        public abstract void Reset();

        public abstract void Fail(Exception exception);
    }

    private sealed class Operation<T> : Operation
    {
        private readonly Func<SqliteDeduplicationStore, long, T> _execute;
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T _result = default!;

        public Operation(Func<SqliteDeduplicationStore, long, T> execute) => _execute = execute;

        public Task<T> Task => _completion.Task;

        public override void Execute(SqliteDeduplicationStore store, long now) => _result = _execute(store, now);

        public override void Deliver() => _completion.TrySetResult(_result);

        public override void Reset() => _result = default!;

        public override void Fail(Exception exception) => _completion.TrySetException(exception);
    }

    internal static byte[] Bytes(UInt128 fingerprint)
    {
        byte[] bytes = new byte[16];
        BinaryPrimitives.WriteUInt128LittleEndian(bytes, fingerprint);
        return bytes;
    }
}

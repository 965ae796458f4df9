using System;
using System.Buffers.Binary;
using Microsoft.Data.Sqlite;
using RpcGen.Server.Deduplication;
using SQLitePCL;

namespace RpcGen.Sqlite;

/// <summary>
/// The write loop's prepared statements, each a fenced, single-statement change (no read-then-write races). They run on
/// SQLite's own API (SQLitePCLRaw, which Microsoft.Data.Sqlite is built on) with values bound from spans: the
/// ADO.NET command path boxes every value and makes a reader per statement, which measured 1.5× slower per claim and
/// answer, and the write loop is the store's bottleneck.
/// </summary>
internal sealed class Statements : IDisposable
{
    private const string T = Schema.Table;

    /// <summary>The answer's columns set by a completion: the same text for the write loop and the handler's transaction.</summary>
    private const string CompleteSql =
        $"UPDATE {T} SET status = $status, message = $message, pushback = $pushback, body = $body, metadata = $metadata, " +
        "lease_until = 0, expires_at = $expires WHERE id = $id AND token = $token AND status IS NULL";

    private const string CompletedBySql = $"SELECT COUNT(*) FROM {T} WHERE id = $id AND token = $token AND status IS NOT NULL";

    private readonly sqlite3 _db;
    private readonly Statement _begin, _commit, _rollback, _count;
    private readonly Statement _insert, _select, _replace, _takeOver, _complete, _completedBy, _renew, _abandon, _sweep, _evict;

    public Statements(SqliteConnection connection)
    {
        _db = connection.Handle!;

        // SQLite's busy handler waits (up to 30 s) while another process holds the write lock; IMMEDIATE takes that lock
        // at BEGIN, where the handler applies, rather than at the first write, where a deadlock check would refuse.
        raw.sqlite3_busy_timeout(_db, 30_000);
        _begin = new Statement(_db, "BEGIN IMMEDIATE");
        _commit = new Statement(_db, "COMMIT");
        _rollback = new Statement(_db, "ROLLBACK");
        _count = new Statement(_db, $"SELECT COUNT(*) FROM {T}");
        _insert = new Statement(_db,
            $"INSERT INTO {T} (id, method, fingerprint, token, lease_until, expires_at) VALUES ($id, $method, $fp, $token, $lease, $expires) " +
            "ON CONFLICT(id) DO NOTHING");
        _select = new Statement(_db,
            $"SELECT method, fingerprint, token, lease_until, expires_at, status, message, pushback, body, metadata FROM {T} WHERE id = $id");
        _replace = new Statement(_db,
            $"UPDATE {T} SET method = $method, fingerprint = $fp, token = $token, lease_until = $lease, expires_at = $expires, " +
            "status = NULL, message = NULL, pushback = NULL, body = NULL, metadata = NULL WHERE id = $id");
        _takeOver = new Statement(_db,
            $"UPDATE {T} SET token = $token, lease_until = $lease, expires_at = $expires WHERE id = $id AND token = $old AND status IS NULL");
        _complete = new Statement(_db, CompleteSql);
        _completedBy = new Statement(_db, CompletedBySql);
        _renew = new Statement(_db,
            $"UPDATE {T} SET lease_until = $lease, expires_at = $expires WHERE id = $id AND token = $token AND status IS NULL");
        _abandon = new Statement(_db, $"DELETE FROM {T} WHERE id = $id AND token = $token AND status IS NULL");
        _sweep = new Statement(_db, $"DELETE FROM {T} WHERE id IN (SELECT id FROM {T} WHERE expires_at < $now LIMIT $limit)");
        _evict = new Statement(_db,
            $"DELETE FROM {T} WHERE id IN (SELECT id FROM {T} WHERE status IS NOT NULL ORDER BY expires_at LIMIT $limit)");
    }

    /// <summary>True while the write loop's transaction is open (SQLite is out of autocommit mode).</summary>
    public bool InTransaction => raw.sqlite3_get_autocommit(_db) == 0;

    public void Begin() => _begin.Execute();

    public void Commit() => _commit.Execute();

    public void Rollback()
    {
        if (InTransaction)
        {
            _rollback.Execute();
        }
    }

    public long Count() => _count.Scalar();

    public bool Insert(DeduplicationKey key, long token, long leaseUntil, long expiresAt)
    {
        Span<byte> id = stackalloc byte[16], fingerprint = stackalloc byte[16];
        return _insert.Blob(1, Id(key.CallId, id)).Text(2, key.Method).Blob(3, Fingerprint(key.Fingerprint, fingerprint))
            .Int64(4, token).Int64(5, leaseUntil).Int64(6, expiresAt).Execute() == 1;
    }

    public void Replace(DeduplicationKey key, long token, long leaseUntil, long expiresAt)
    {
        Span<byte> id = stackalloc byte[16], fingerprint = stackalloc byte[16];
        _replace.Text(1, key.Method).Blob(2, Fingerprint(key.Fingerprint, fingerprint)).Int64(3, token).Int64(4, leaseUntil).Int64(5, expiresAt);
        _replace.Blob(6, Id(key.CallId, id)).Execute();
    }

    public bool TakeOver(Guid callId, long oldToken, long token, long leaseUntil, long expiresAt)
    {
        Span<byte> id = stackalloc byte[16];
        return _takeOver.Int64(1, token).Int64(2, leaseUntil).Int64(3, expiresAt).Blob(4, Id(callId, id)).Int64(5, oldToken).Execute() == 1;
    }

    public bool Renew(Guid callId, long token, long leaseUntil, long expiresAt)
    {
        Span<byte> id = stackalloc byte[16];
        return _renew.Int64(1, leaseUntil).Int64(2, expiresAt).Blob(3, Id(callId, id)).Int64(4, token).Execute() == 1;
    }

    public bool Abandon(Guid callId, long token)
    {
        Span<byte> id = stackalloc byte[16];
        return _abandon.Blob(1, Id(callId, id)).Int64(2, token).Execute() == 1;
    }

    public int Sweep(long now, int limit) => _sweep.Int64(1, now).Int64(2, limit).Execute();

    public int EvictOldest(int limit) => _evict.Int64(1, limit).Execute();

    /// <summary>Completes a claim; true when it is completed by <paramref name="token"/> (now or before).</summary>
    public bool Complete(Guid callId, long token, DeduplicationRecord record, long expiresAt)
    {
        Span<byte> id = stackalloc byte[16];
        Id(callId, id);
        _complete.Int32(1, (int)record.Status).Text(2, record.Message);
        if (record.PushbackMilliseconds is int pushback)
        {
            _complete.Int32(3, pushback);
        }
        else
        {
            _complete.Null(3);
        }

        int changed = _complete.Blob(4, record.Body.Span).Blob(5, record.Metadata.Span).Int64(6, expiresAt).Blob(7, id).Int64(8, token).Execute();
        return changed == 1 || _completedBy.Blob(1, id).Int64(2, token).Scalar() > 0;
    }

    public Row Select(Guid callId)
    {
        Span<byte> id = stackalloc byte[16];
        sqlite3_stmt statement = _select.Blob(1, Id(callId, id)).Handle;
        try
        {
            if (raw.sqlite3_step(statement) != raw.SQLITE_ROW)
            {
                throw new InvalidOperationException($"The row of call {callId} vanished inside its transaction.");
            }

            DeduplicationRecord? record = null;
            if (raw.sqlite3_column_type(statement, 5) != raw.SQLITE_NULL)
            {
                record = new DeduplicationRecord(
                    (RpcStatusCode)raw.sqlite3_column_int(statement, 5),
                    raw.sqlite3_column_type(statement, 6) == raw.SQLITE_NULL ? null : raw.sqlite3_column_text(statement, 6).utf8_to_string(),
                    raw.sqlite3_column_type(statement, 7) == raw.SQLITE_NULL ? null : raw.sqlite3_column_int(statement, 7),
                    raw.sqlite3_column_blob(statement, 8).ToArray(),
                    raw.sqlite3_column_blob(statement, 9).ToArray());
            }

            return new Row(
                raw.sqlite3_column_text(statement, 0).utf8_to_string(),
                BinaryPrimitives.ReadUInt128LittleEndian(raw.sqlite3_column_blob(statement, 1)),
                raw.sqlite3_column_int64(statement, 2),
                raw.sqlite3_column_int64(statement, 3),
                raw.sqlite3_column_int64(statement, 4),
                record);
        }
        finally
        {
            raw.sqlite3_reset(statement);
        }
    }

    public void Dispose()
    {
        foreach (Statement statement in new[] { _begin, _commit, _rollback, _count, _insert, _select, _replace, _takeOver, _complete, _completedBy,
            _renew, _abandon, _sweep, _evict })
        {
            statement.Dispose();
        }
    }

    /// <summary>
    /// Completes a claim in a handler's transaction, on its own connection (through ADO.NET: it is one statement per
    /// call, in the handler's transaction object); true when it is completed by <paramref name="token"/> (now or before).
    /// </summary>
    public static bool Complete(SqliteTransaction transaction, Guid callId, long token, DeduplicationRecord record, long expiresAt)
    {
        SqliteConnection connection = transaction.Connection!;
        byte[] id = callId.ToByteArray(bigEndian: true);
        using SqliteCommand complete = connection.CreateCommand();
        complete.Transaction = transaction;
        complete.CommandText = CompleteSql;
        complete.Parameters.AddWithValue("$status", (int)record.Status);
        complete.Parameters.AddWithValue("$message", (object?)record.Message ?? DBNull.Value);
        complete.Parameters.AddWithValue("$pushback", record.PushbackMilliseconds is int pushback ? pushback : DBNull.Value);
        complete.Parameters.AddWithValue("$body", record.Body.ToArray());
        complete.Parameters.AddWithValue("$metadata", record.Metadata.ToArray());
        complete.Parameters.AddWithValue("$expires", expiresAt);
        complete.Parameters.AddWithValue("$id", id);
        complete.Parameters.AddWithValue("$token", token);
        if (complete.ExecuteNonQuery() == 1)
        {
            return true;
        }

        using SqliteCommand completedBy = connection.CreateCommand();
        completedBy.Transaction = transaction;
        completedBy.CommandText = CompletedBySql;
        completedBy.Parameters.AddWithValue("$id", id);
        completedBy.Parameters.AddWithValue("$token", token);
        return (long)completedBy.ExecuteScalar()! > 0;
    }

    /// <summary>
    /// The call id as stored: big-endian, the byte order of its text, so that RpcGen's time-ordered (version 7) ids
    /// sort by time and new rows land at the B-tree's right edge.
    /// </summary>
    private static ReadOnlySpan<byte> Id(Guid callId, Span<byte> destination)
    {
        callId.TryWriteBytes(destination, bigEndian: true, out _);
        return destination;
    }

    private static ReadOnlySpan<byte> Fingerprint(UInt128 fingerprint, Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt128LittleEndian(destination, fingerprint);
        return destination;
    }

    /// <summary>A row as a claim finds it.</summary>
    public readonly record struct Row(string Method, UInt128 Fingerprint, long Token, long LeaseUntil, long ExpiresAt, DeduplicationRecord? Record);

    /// <summary>One prepared statement: values bound by position (1-based, in the order of the text), run, reset.</summary>
    private sealed class Statement : IDisposable
    {
        private readonly sqlite3 _db;
        private readonly sqlite3_stmt _statement;

        public Statement(sqlite3 db, string sql)
        {
            _db = db;
            SqliteException.ThrowExceptionForRC(raw.sqlite3_prepare_v2(db, sql, out _statement), db);
        }

        public Statement Int64(int index, long value) => Checked(raw.sqlite3_bind_int64(_statement, index, value));

        public Statement Int32(int index, int value) => Checked(raw.sqlite3_bind_int(_statement, index, value));

        public Statement Null(int index) => Checked(raw.sqlite3_bind_null(_statement, index));

        public Statement Text(int index, string? value) =>
            Checked(value is null ? raw.sqlite3_bind_null(_statement, index) : raw.sqlite3_bind_text(_statement, index, value));

        /// <summary>Binds a copy of <paramref name="value"/> (SQLite copies it: the span may be on the caller's stack).</summary>
        public Statement Blob(int index, ReadOnlySpan<byte> value) => Checked(raw.sqlite3_bind_blob(_statement, index, value));

        /// <summary>Runs a statement that returns no rows; the number of rows it changed.</summary>
        public int Execute()
        {
            try
            {
                int result = raw.sqlite3_step(_statement);
                if (result != raw.SQLITE_DONE && result != raw.SQLITE_ROW)
                {
                    SqliteException.ThrowExceptionForRC(result, _db);
                }

                return raw.sqlite3_changes(_db);
            }
            finally
            {
                raw.sqlite3_reset(_statement);
            }
        }

        /// <summary>Runs a statement whose first row's first column is an integer.</summary>
        public long Scalar()
        {
            try
            {
                int result = raw.sqlite3_step(_statement);
                if (result != raw.SQLITE_ROW)
                {
                    SqliteException.ThrowExceptionForRC(result, _db);
                }

                return raw.sqlite3_column_int64(_statement, 0);
            }
            finally
            {
                raw.sqlite3_reset(_statement);
            }
        }

        /// <summary>The statement, bound, for a caller that steps through its rows and resets it.</summary>
        public sqlite3_stmt Handle => _statement;

        public void Dispose() => _statement.Dispose();

        private Statement Checked(int result)
        {
            if (result != raw.SQLITE_OK)
            {
                SqliteException.ThrowExceptionForRC(result, _db);
            }

            return this;
        }
    }
}

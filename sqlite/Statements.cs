using System;
using Microsoft.Data.Sqlite;
using RpcGen.Server.Deduplication;

namespace RpcGen.Sqlite;

/// <summary>The write loop's prepared statements, each a fenced, single-statement change (no read-then-write races).</summary>
internal sealed class Statements : IDisposable
{
    private const string T = Schema.Table;
    private readonly SqliteCommand _insert;
    private readonly SqliteCommand _select;
    private readonly SqliteCommand _replace;
    private readonly SqliteCommand _takeOver;
    private readonly SqliteCommand _complete;
    private readonly SqliteCommand _completedBy;
    private readonly SqliteCommand _renew;
    private readonly SqliteCommand _abandon;
    private readonly SqliteCommand _sweep;
    private readonly SqliteCommand _evict;
    private SqliteTransaction? _transaction;

    public Statements(SqliteConnection connection)
    {
        _insert = Command(connection,
            $"INSERT INTO {T} (id, method, fingerprint, token, lease_until, expires_at) VALUES ($id, $method, $fp, $token, $lease, $expires) " +
            "ON CONFLICT(id) DO NOTHING",
            "$id", "$method", "$fp", "$token", "$lease", "$expires");
        _select = Command(connection,
            $"SELECT method, fingerprint, token, lease_until, expires_at, status, message, pushback, body, metadata FROM {T} WHERE id = $id",
            "$id");
        _replace = Command(connection,
            $"UPDATE {T} SET method = $method, fingerprint = $fp, token = $token, lease_until = $lease, expires_at = $expires, " +
            "status = NULL, message = NULL, pushback = NULL, body = NULL, metadata = NULL WHERE id = $id",
            "$id", "$method", "$fp", "$token", "$lease", "$expires");
        _takeOver = Command(connection,
            $"UPDATE {T} SET token = $token, lease_until = $lease, expires_at = $expires WHERE id = $id AND token = $old AND status IS NULL",
            "$id", "$old", "$token", "$lease", "$expires");
        _complete = Command(connection,
            $"UPDATE {T} SET status = $status, message = $message, pushback = $pushback, body = $body, metadata = $metadata, " +
            "lease_until = 0, expires_at = $expires WHERE id = $id AND token = $token AND status IS NULL",
            "$id", "$token", "$status", "$message", "$pushback", "$body", "$metadata", "$expires");
        _completedBy = Command(connection, $"SELECT COUNT(*) FROM {T} WHERE id = $id AND token = $token AND status IS NOT NULL", "$id", "$token");
        _renew = Command(connection,
            $"UPDATE {T} SET lease_until = $lease, expires_at = $expires WHERE id = $id AND token = $token AND status IS NULL",
            "$id", "$token", "$lease", "$expires");
        _abandon = Command(connection, $"DELETE FROM {T} WHERE id = $id AND token = $token AND status IS NULL", "$id", "$token");
        _sweep = Command(connection, $"DELETE FROM {T} WHERE id IN (SELECT id FROM {T} WHERE expires_at < $now LIMIT $limit)", "$now", "$limit");
        _evict = Command(connection,
            $"DELETE FROM {T} WHERE id IN (SELECT id FROM {T} WHERE status IS NOT NULL ORDER BY expires_at LIMIT $limit)", "$limit");
    }

    private SqliteCommand[] All => new[] { _insert, _select, _replace, _takeOver, _complete, _completedBy, _renew, _abandon, _sweep, _evict };

    /// <summary>The write loop's transaction; every statement runs in it.</summary>
    public SqliteTransaction? Transaction
    {
        get => _transaction;
        set
        {
            _transaction = value;
            foreach (SqliteCommand command in All)
            {
                command.Transaction = value;
            }
        }
    }

    public bool Insert(DeduplicationKey key, long token, long leaseUntil, long expiresAt) =>
        Run(_insert, key.CallId.ToByteArray(), key.Method, SqliteDeduplicationStore.Bytes(key.Fingerprint), token, leaseUntil, expiresAt) == 1;

    public void Replace(DeduplicationKey key, long token, long leaseUntil, long expiresAt) =>
        Run(_replace, key.CallId.ToByteArray(), key.Method, SqliteDeduplicationStore.Bytes(key.Fingerprint), token, leaseUntil, expiresAt);

    public bool TakeOver(Guid id, long oldToken, long token, long leaseUntil, long expiresAt) =>
        Run(_takeOver, id.ToByteArray(), oldToken, token, leaseUntil, expiresAt) == 1;

    public bool Renew(Guid id, long token, long leaseUntil, long expiresAt) => Run(_renew, id.ToByteArray(), token, leaseUntil, expiresAt) == 1;

    public bool Abandon(Guid id, long token) => Run(_abandon, id.ToByteArray(), token) == 1;

    public int Sweep(long now, int limit) => Run(_sweep, now, limit);

    public int EvictOldest(int limit) => Run(_evict, limit);

    public bool Complete(Guid id, long token, DeduplicationRecord record, long expiresAt) =>
        Complete(_complete, _completedBy, id, token, record, expiresAt);

    /// <summary>Completes a claim with <paramref name="complete"/>; true when it is completed by <paramref name="token"/> (now or before).</summary>
    public static bool Complete(SqliteCommand complete, SqliteCommand completedBy, Guid id, long token, DeduplicationRecord record, long expiresAt)
    {
        byte[] key = id.ToByteArray();
        int changed = Run(complete, key, token, (int)record.Status, (object?)record.Message ?? DBNull.Value,
            record.PushbackMilliseconds is int pushback ? pushback : DBNull.Value, record.Body.ToArray(), record.Metadata.ToArray(), expiresAt);
        return changed == 1 || (long)Scalar(completedBy, key, token)! > 0;
    }

    public Row Select(Guid id)
    {
        Bind(_select, id.ToByteArray());
        using SqliteDataReader reader = _select.ExecuteReader();
        if (!reader.Read())
        {
            throw new InvalidOperationException($"The row of call {id} vanished inside its transaction.");
        }

        DeduplicationRecord? record = null;
        if (!reader.IsDBNull(5))
        {
            record = new DeduplicationRecord(
                (RpcStatusCode)reader.GetInt32(5),
                reader.IsDBNull(6) ? null : reader.GetString(6),
                reader.IsDBNull(7) ? null : reader.GetInt32(7),
                reader.IsDBNull(8) ? Array.Empty<byte>() : (byte[])reader[8],
                reader.IsDBNull(9) ? Array.Empty<byte>() : (byte[])reader[9]);
        }

        return new Row(
            reader.GetString(0),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian((byte[])reader[1]),
            reader.GetInt64(2),
            reader.GetInt64(3),
            reader.GetInt64(4),
            record);
    }

    public void Dispose()
    {
        foreach (SqliteCommand command in new[] { _insert, _select, _replace, _takeOver, _complete, _completedBy, _renew, _abandon, _sweep, _evict })
        {
            command.Dispose();
        }
    }

    /// <summary>The complete and completed-by statements on another connection (the handler's, in its transaction).</summary>
    public static (SqliteCommand Complete, SqliteCommand CompletedBy) CompleteCommands(SqliteConnection connection) =>
        (Command(connection,
            $"UPDATE {T} SET status = $status, message = $message, pushback = $pushback, body = $body, metadata = $metadata, " +
            "lease_until = 0, expires_at = $expires WHERE id = $id AND token = $token AND status IS NULL",
            "$id", "$token", "$status", "$message", "$pushback", "$body", "$metadata", "$expires"),
         Command(connection, $"SELECT COUNT(*) FROM {T} WHERE id = $id AND token = $token AND status IS NOT NULL", "$id", "$token"));

    private static SqliteCommand Command(SqliteConnection connection, string text, params string[] parameters)
    {
        SqliteCommand command = connection.CreateCommand();
        command.CommandText = text;
        foreach (string name in parameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        return command;
    }

    private static void Bind(SqliteCommand command, params object?[] values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }
    }

    private static int Run(SqliteCommand command, params object?[] values)
    {
        Bind(command, values);
        return command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteCommand command, params object?[] values)
    {
        Bind(command, values);
        return command.ExecuteScalar();
    }

    /// <summary>A row as a claim finds it.</summary>
    public readonly record struct Row(string Method, UInt128 Fingerprint, long Token, long LeaseUntil, long ExpiresAt, DeduplicationRecord? Record);
}

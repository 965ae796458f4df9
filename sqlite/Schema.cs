using Microsoft.Data.Sqlite;

namespace RpcGen.Sqlite;

/// <summary>
/// The store's table. One row per call id: the claim (method, argument fingerprint, fencing token, lease) and, once the
/// run ended, its answer (status not null). <c>expires_at</c> is when the row may go: the answer's window end, or for a
/// claim its lease end plus the window (a claim whose server died and was never retried); one index on it serves the
/// sweep and the eviction of the oldest answers.
/// </summary>
internal static class Schema
{
    public const string Table = "rpcgen_deduplication";

    public static void Create(SqliteConnection connection, bool flushToDisk)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText =
            "PRAGMA journal_mode=WAL;" +
            (flushToDisk ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;") +
            $"""
            CREATE TABLE IF NOT EXISTS {Table} (
                id BLOB NOT NULL PRIMARY KEY,
                method TEXT NOT NULL,
                fingerprint BLOB NOT NULL,
                token INTEGER NOT NULL,
                lease_until INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                status INTEGER,
                message TEXT,
                pushback INTEGER,
                body BLOB,
                metadata BLOB) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS {Table}_expires ON {Table} (expires_at);
            """;
        command.ExecuteNonQuery();
    }

    public static long Count(SqliteConnection connection)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM {Table}";
        return (long)command.ExecuteScalar()!;
    }
}

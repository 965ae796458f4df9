using System;
using Microsoft.Data.Sqlite;
using RpcGen.Server;
using RpcGen.Server.Deduplication;

namespace RpcGen.Sqlite;

// The handler's side: storing its answer in the transaction that holds its own writes.
public sealed partial class SqliteDeduplicationStore
{
    /// <summary>
    /// Stores the answer of the running <c>[Deduplicate]</c> call (<paramref name="result"/>, with the response headers
    /// and trailers written so far) in <paramref name="transaction"/>, on a connection to this store's database: the
    /// answer commits with the handler's own writes, or neither does. Call it last before <c>Commit</c>, and return
    /// <paramref name="result"/>. Returns false, storing nothing, when the call carries no call id (nothing to
    /// deduplicate).
    /// </summary>
    /// <exception cref="RpcException">
    /// <see cref="RpcStatusCode.Aborted"/>: the claim was lost (its lease ran out and another run took the call over):
    /// do not commit; the exception, thrown from the handler, rolls the transaction back when it is disposed.
    /// </exception>
    /// <exception cref="InvalidOperationException">
    /// Not called from a handler, the call's claim is in another store, or the transaction's connection is to another database.
    /// </exception>
    public bool CompleteInTransaction<T>(SqliteTransaction transaction, T result) =>
        CompleteInTransaction(transaction, static (claim, value) => claim.CreateRecord(value), result);

    /// <summary>As <see cref="CompleteInTransaction{T}(SqliteTransaction, T)"/>, for a method without a result.</summary>
    public bool CompleteInTransaction(SqliteTransaction transaction) =>
        CompleteInTransaction<object?>(transaction, static (claim, _) => claim.CreateRecord(), null);

    private bool CompleteInTransaction<T>(SqliteTransaction transaction, Func<RpcDeduplicationClaim, T, DeduplicationRecord> answer, T result)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        RpcCallContext context = RpcCallContext.Current
            ?? throw new InvalidOperationException("CompleteInTransaction is called from the handler of a [Deduplicate] method.");
        if (context.Deduplication is not { } claim)
        {
            return false;
        }

        if (!ReferenceEquals(claim.Store, this))
        {
            throw new InvalidOperationException(
                $"The claim of '{claim.Method}' is in the store '{claim.Store.Name}', not in this SQLite store: choose this store for the service.");
        }

        SqliteConnection connection = transaction.Connection
            ?? throw new InvalidOperationException("The transaction has completed.");
        if (!string.Equals(System.IO.Path.GetFullPath(connection.DataSource), Path, StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"The transaction is on '{connection.DataSource}', not on the store's database '{Path}': " +
                "the answer and the writes must share one database.");
        }

        DeduplicationRecord record = answer(claim, result);
        if (!Statements.Complete(transaction, claim.CallId, claim.Token, record, Now + _windowMs))
        {
            throw new RpcException(RpcStatusCode.Aborted,
                $"Call {claim.CallId} of '{claim.Method}' lost its claim (its lease ran out and another run took it over); " +
                "its writes were not committed.");
        }

        return true;
    }
}

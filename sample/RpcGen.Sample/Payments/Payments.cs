using System.Net;
using Microsoft.Data.Sqlite;
using RpcGen;
using RpcGen.Redis;
using RpcGen.Server;
using RpcGen.Server.Deduplication;
using RpcGen.Sqlite;
using StackExchange.Redis;

namespace Sample.Payments;

public sealed record Receipt(string Order, long Amount, string Server);

/// <summary>
/// A charge that must happen once per order however often the client retries, whichever server gets the retry, and
/// whatever server dies meanwhile: [Deduplicate] with a store every server shares, and the charge written in the same
/// transaction as the answer.
/// </summary>
[RpcService("payments"), Timeout(30_000)]
public interface IPayments
{
    [Deduplicate, Retry(MaxAttempts = 40, InitialBackoffMs = 20, MaxBackoffMs = 500, PerAttemptTimeoutMs = 4000)]
    Task<Receipt> ChargeAsync(string order, long amount, CancellationToken cancellationToken = default);
}

/// <summary>Charges into a SQLite table in the store's database: the row and the answer commit together.</summary>
public sealed class SqlitePayments : IPayments
{
    private readonly SqliteDeduplicationStore _store;
    private readonly string _server;

    public SqlitePayments(SqliteDeduplicationStore store, string server)
    {
        _store = store;
        _server = server;
        using var connection = new SqliteConnection(store.ConnectionString());
        connection.Open();
        using SqliteCommand create = connection.CreateCommand();
        create.CommandText = "CREATE TABLE IF NOT EXISTS charges (order_id TEXT NOT NULL, amount INTEGER NOT NULL, server TEXT NOT NULL)";
        create.ExecuteNonQuery();
    }

    public async Task<Receipt> ChargeAsync(string order, long amount, CancellationToken cancellationToken = default)
    {
        await using var connection = new SqliteConnection(_store.ConnectionString());
        await connection.OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        using SqliteCommand insert = connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO charges (order_id, amount, server) VALUES ($order, $amount, $server)";
        insert.Parameters.AddWithValue("$order", order);
        insert.Parameters.AddWithValue("$amount", amount);
        insert.Parameters.AddWithValue("$server", _server);
        await insert.ExecuteNonQueryAsync(cancellationToken);
        var receipt = new Receipt(order, amount, _server);
        _store.CompleteInTransaction(transaction, receipt);
        await transaction.CommitAsync(cancellationToken);
        return receipt;
    }
}

/// <summary>Charges into a Redis hash (runs per order) in the same MULTI/EXEC as the answer.</summary>
public sealed class RedisPayments : IPayments
{
    private readonly RedisDeduplicationStore _store;
    private readonly IDatabase _redis;
    private readonly string _server;

    public RedisPayments(RedisDeduplicationStore store, IDatabase redis, string server)
    {
        _store = store;
        _redis = redis;
        _server = server;
    }

    public async Task<Receipt> ChargeAsync(string order, long amount, CancellationToken cancellationToken = default)
    {
        var receipt = new Receipt(order, amount, _server);
        ITransaction transaction = _redis.CreateTransaction();
        _ = transaction.HashIncrementAsync("payments:charges", order);
        _store.AddCompletion(transaction, receipt);
        if (!await transaction.ExecuteAsync())
        {
            throw new RpcException(RpcStatusCode.Aborted, $"order {order} was taken over by another server; nothing was charged here");
        }

        return receipt;
    }
}

public static class PaymentsServer
{
    /// <summary>
    /// One payments server process for the kill -9 test: <c>serve-payments port sqlite path</c> or
    /// <c>serve-payments port redis configuration</c>. Claims are held for 2 s without renewal, so a killed server's
    /// calls are taken over soon after it died.
    /// </summary>
    public static async Task<int> ServeAsync(int port, string kind, string where)
    {
        var options = new RpcServerOptions { Deduplication = { Lease = TimeSpan.FromSeconds(2) } };
        options.Listen.Add(new IPEndPoint(IPAddress.Loopback, port));
        string name = $"server-{port}";
        IDeduplicationStore store;
        IPayments payments;
        ConnectionMultiplexer? redis = null;
        if (kind == "sqlite")
        {
            var sqlite = new SqliteDeduplicationStore(new SqliteDeduplicationStoreOptions { Path = where });
            (store, payments) = (sqlite, new SqlitePayments(sqlite, name));
        }
        else
        {
            redis = await ConnectionMultiplexer.ConnectAsync(where);
            var shared = new RedisDeduplicationStore(new RedisDeduplicationStoreOptions { Connection = redis });
            (store, payments) = (shared, new RedisPayments(shared, redis.GetDatabase(), name));
        }

        options.Deduplication.Stores["payments"] = store;
        await using var server = new RpcServer(options);
        server.Map(payments);
        await server.StartAsync();
        Console.WriteLine($"ready {server.Endpoints[0].Port}");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }
}

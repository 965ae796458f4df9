using Microsoft.Data.Sqlite;
using RpcGen.Server.Deduplication;
using RpcGen.Sqlite;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Deduplication;

/// <summary>The SQLite store: the contract, answers kept across a reopen, two writers on one file, and the transaction hook.</summary>
public sealed class SqliteDeduplicationStoreTests : DeduplicationStoreContract, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "rpcgen-sqlite-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A store a failed test left open; the temporary directory goes with the machine's cleanup.
        }
    }

    private string File(string name = "dedup.db") => Path.Combine(_directory, name);

    protected override Task<IDeduplicationStore> CreateAsync(FakeTimeProvider time, int capacity = 1000) =>
        Task.FromResult<IDeduplicationStore>(new SqliteDeduplicationStore(new SqliteDeduplicationStoreOptions
        {
            Path = File(Guid.NewGuid().ToString("N") + ".db"),
            Capacity = capacity,
            Window = TimeSpan.FromHours(1),
            TimeProvider = time,
        }));

    [Fact]
    public async Task AnswersAndClaims_OutliveTheStore_ReopenedOnTheSameFile()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = new SqliteDeduplicationStoreOptions { Path = File(), TimeProvider = time };
        DeduplicationKey done = Key(), running = Key();
        long runningToken;
        await using (var store = new SqliteDeduplicationStore(options))
        {
            DeduplicationClaim claim = await store.ClaimAsync(done, Lease);
            await store.CompleteAsync(done.CallId, claim.Token, Answer("\"kept\"", new byte[] { 0, 0, 0, 0 }));
            runningToken = (await store.ClaimAsync(running, Lease)).Token;
        }

        await using (var reopened = new SqliteDeduplicationStore(options))
        {
            DeduplicationClaim repeat = await reopened.ClaimAsync(done, Lease);
            Assert.Equal("\"kept\"", System.Text.Encoding.UTF8.GetString(repeat.Record!.Body.Span));
            Assert.Equal(new byte[] { 0, 0, 0, 0 }, repeat.Record.Metadata.ToArray());
            Assert.Equal(DeduplicationClaimStatus.Running, (await reopened.ClaimAsync(running, Lease)).Status); // its lease still holds
            Assert.Equal(2, (await reopened.GetStatusAsync()).Entries);
            time.Advance(TimeSpan.FromSeconds(11));
            Assert.Equal(DeduplicationClaimStatus.Claimed, (await reopened.ClaimAsync(running, Lease)).Status); // taken over
            Assert.False(await reopened.CompleteAsync(running.CallId, runningToken, Answer()));
        }
    }

    [Fact]
    public async Task TwoStoresOnOneFile_AsTwoProcessesWouldBe_GiveEachIdToOneClaim()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var first = new SqliteDeduplicationStore(new SqliteDeduplicationStoreOptions { Path = File(), TimeProvider = time });
        await using var second = new SqliteDeduplicationStore(new SqliteDeduplicationStoreOptions { Path = File(), TimeProvider = time });
        for (int round = 0; round < 20; round++)
        {
            DeduplicationKey key = Key();
            Task<DeduplicationClaim>[] claims = Enumerable.Range(0, 20)
                .Select(i => Task.Run(async () => await (i % 2 == 0 ? first : second).ClaimAsync(key, Lease)))
                .ToArray();
            DeduplicationClaim[] results = await Task.WhenAll(claims);
            DeduplicationClaim winner = Assert.Single(results, r => r.Status == DeduplicationClaimStatus.Claimed);

            // The answer one stores is what the other's repeats get.
            IDeduplicationStore owner = results.ToList().IndexOf(winner) % 2 == 0 ? first : second;
            IDeduplicationStore other = ReferenceEquals(owner, first) ? second : first;
            Assert.True(await owner.CompleteAsync(key.CallId, winner.Token, Answer($"\"{round}\"")));
            Assert.Equal($"\"{round}\"", System.Text.Encoding.UTF8.GetString((await other.ClaimAsync(key, Lease)).Record!.Body.Span));
        }
    }

    [Fact]
    public async Task AHandlerStoresItsAnswerInItsOwnTransaction_AndARepeatGetsIt()
    {
        await using var store = new SqliteDeduplicationStore(new SqliteDeduplicationStoreOptions { Path = File() });
        var ledger = new SqliteLedger(store);
        await using var server = new RpcServer(new RpcServerOptions { Deduplication = { Store = store } });
        server.Map<ILedger>(ledger);
        await server.StartAsync();
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 1))
        {
            var id = Guid.NewGuid();
            await raw.WriteAsync(DeduplicationServerTests.Request(1, id, "ledger/Post", "[\"alice\",5]"));
            (_, DeduplicationServerTests.Answer first) = await DeduplicationServerTests.ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
            await raw.WriteAsync(DeduplicationServerTests.Request(2, id, "ledger/Post", "[\"alice\",5]"));
            (_, DeduplicationServerTests.Answer repeat) = await DeduplicationServerTests.ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal("\"alice:5:row1\"", first.Text);
            Assert.Equal(first.Text, repeat.Text);
            Assert.Equal("sqlite", repeat.Trailers!.GetValue("x-stored"));
            Assert.Equal(1, ledger.Runs);
            Assert.Equal(1, ledger.Rows());
        }
    }

    [Fact]
    public async Task AHandlerWhoseClaimWasTakenOver_CannotCommit()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var store = new SqliteDeduplicationStore(new SqliteDeduplicationStoreOptions { Path = File(), TimeProvider = time });
        var ledger = new SqliteLedger(store);
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ledger.Gate = async _ =>
        {
            running.TrySetResult();
            await release.Task;
        };
        // The server's own renewals are an hour apart: the test's clock decides when the lease runs out.
        await using var server = new RpcServer(new RpcServerOptions { Deduplication = { Store = store, Lease = TimeSpan.FromHours(1) } });
        server.Map<ILedger>(ledger);
        await server.StartAsync();
        await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]);
        var id = Guid.NewGuid();
        await raw.WriteAsync(DeduplicationServerTests.Request(1, id, "ledger/Post", "[\"bob\",5]"));
        await running.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // The server stalls past its lease (the fake clock jumps, no renewal ran): another server takes the call over.
        time.Advance(TimeSpan.FromMinutes(61));
        DeduplicationClaim takeover = await store.ClaimAsync(
            new DeduplicationKey(id, "ledger/Post", System.IO.Hashing.XxHash128.HashToUInt128("[\"bob\",5]"u8)), Lease);
        Assert.Equal(DeduplicationClaimStatus.Claimed, takeover.Status);

        release.SetResult();
        (_, DeduplicationServerTests.Answer answer) = await DeduplicationServerTests.ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(RpcStatusCode.Aborted, answer.Code);
        Assert.Equal(0, ledger.Rows()); // its writes rolled back with the answer
    }

    /// <summary>A ledger that writes its rows and its answer to the store's database in one transaction.</summary>
    private sealed class SqliteLedger : ILedger
    {
        private readonly SqliteDeduplicationStore _store;
        private int _runs;

        public SqliteLedger(SqliteDeduplicationStore store)
        {
            _store = store;
            using var connection = new SqliteConnection(store.ConnectionString());
            connection.Open();
            using SqliteCommand create = connection.CreateCommand();
            create.CommandText = "CREATE TABLE IF NOT EXISTS ledger (account TEXT NOT NULL, amount INTEGER NOT NULL)";
            create.ExecuteNonQuery();
        }

        public int Runs => Volatile.Read(ref _runs);

        public Func<CancellationToken, Task>? Gate { get; set; }

        public int Rows()
        {
            using var connection = new SqliteConnection(_store.ConnectionString());
            connection.Open();
            using SqliteCommand count = connection.CreateCommand();
            count.CommandText = "SELECT COUNT(*) FROM ledger";
            return (int)(long)count.ExecuteScalar()!;
        }

        public async Task<string> PostAsync(string account, int amount, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _runs);
            if (Gate is { } gate)
            {
                await gate(cancellationToken);
            }

            await using var connection = new SqliteConnection(_store.ConnectionString());
            await connection.OpenAsync(cancellationToken);
            await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
            using SqliteCommand insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO ledger (account, amount) VALUES ($account, $amount); SELECT last_insert_rowid();";
            insert.Parameters.AddWithValue("$account", account);
            insert.Parameters.AddWithValue("$amount", amount);
            long row = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;
            string receipt = $"{account}:{amount}:row{row}";
            RpcCallContext.Current!.ResponseTrailers.Add("x-stored", "sqlite");
            _store.CompleteInTransaction(transaction, receipt);
            await transaction.CommitAsync(cancellationToken);
            return receipt;
        }

        public Task VoidAsync(string account, CancellationToken cancellationToken = default) => Task.CompletedTask;
    }
}

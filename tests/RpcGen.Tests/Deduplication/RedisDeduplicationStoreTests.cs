using RpcGen.Redis;
using RpcGen.Server.Deduplication;
using RpcGen.Tests.Support;
using StackExchange.Redis;
using Xunit;

namespace RpcGen.Tests.Deduplication;

/// <summary>One real Redis for the class's tests; each test uses its own key prefix.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public ConnectionMultiplexer Connection { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await RedisServer.StartAsync();
        Connection = await ConnectionMultiplexer.ConnectAsync(Server.Configuration);
    }

    public async Task DisposeAsync()
    {
        await Connection.CloseAsync();
        Connection.Dispose();
        await Server.DisposeAsync();
    }
}

/// <summary>The Redis store: the contract against a real redis-server, two servers sharing it, and the MULTI/EXEC hook.</summary>
public sealed class RedisDeduplicationStoreTests : DeduplicationStoreContract, IClassFixture<RedisFixture>
{
    private readonly RedisFixture _redis;

    public RedisDeduplicationStoreTests(RedisFixture redis) => _redis = redis;

    private RedisDeduplicationStoreOptions Options(TimeProvider time, long capacity = 1000, string? prefix = null) => new()
    {
        Connection = _redis.Connection,
        Prefix = prefix ?? "{rpcgen-test-" + Guid.NewGuid().ToString("N") + "}",
        Capacity = capacity,
        Window = TimeSpan.FromHours(1),
        TimeProvider = time,
    };

    protected override Task<IDeduplicationStore> CreateAsync(FakeTimeProvider time, int capacity = 1000) =>
        Task.FromResult<IDeduplicationStore>(new RedisDeduplicationStore(Options(time, capacity)));

    [Fact]
    public async Task TwoStoresOnOneRedis_AsTwoServersWouldBe_GiveEachIdToOneClaim_AndShareTheAnswer()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        string prefix = "{rpcgen-test-" + Guid.NewGuid().ToString("N") + "}";
        await using var first = new RedisDeduplicationStore(Options(time, prefix: prefix));
        await using var second = new RedisDeduplicationStore(new RedisDeduplicationStoreOptions
        {
            Configuration = _redis.Server.Configuration, // its own connection, as another machine's server has
            Prefix = prefix,
            TimeProvider = time,
        });
        for (int round = 0; round < 20; round++)
        {
            DeduplicationKey key = Key();
            DeduplicationClaim[] results = await Task.WhenAll(Enumerable.Range(0, 20)
                .Select(i => Task.Run(async () => await (i % 2 == 0 ? first : second).ClaimAsync(key, Lease))));
            DeduplicationClaim winner = Assert.Single(results, r => r.Status == DeduplicationClaimStatus.Claimed);
            IDeduplicationStore owner = Array.IndexOf(results, winner) % 2 == 0 ? first : second;
            IDeduplicationStore other = ReferenceEquals(owner, first) ? second : first;
            Assert.True(await owner.CompleteAsync(key.CallId, winner.Token, Answer($"\"{round}\"")));
            Assert.Equal($"\"{round}\"", System.Text.Encoding.UTF8.GetString((await other.ClaimAsync(key, Lease)).Record!.Body.Span));
        }
    }

    [Fact]
    public async Task AHandlerAddsItsAnswerToItsOwnTransaction_WhichCommitsOnlyWhileItsClaimHolds()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var store = new RedisDeduplicationStore(Options(time));
        string ledgerKey = "{ledger-" + Guid.NewGuid().ToString("N") + "}";
        var ledger = new RedisLedger(store, _redis.Connection.GetDatabase(), ledgerKey);
        await using var server = new RpcServer(new RpcServerOptions { Deduplication = { Store = store, Lease = TimeSpan.FromHours(1) } });
        server.Map<ILedger>(ledger);
        await server.StartAsync();
        await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 1);

        var id = Guid.NewGuid();
        await raw.WriteAsync(DeduplicationServerTests.Request(1, id, "ledger/Post", "[\"alice\",5]"));
        (_, DeduplicationServerTests.Answer first) = await DeduplicationServerTests.ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
        await raw.WriteAsync(DeduplicationServerTests.Request(2, id, "ledger/Post", "[\"alice\",5]"));
        (_, DeduplicationServerTests.Answer repeat) = await DeduplicationServerTests.ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("\"alice:5:total5\"", first.Text);
        Assert.Equal(first.Text, repeat.Text);
        Assert.Equal("redis", repeat.Trailers!.GetValue("x-stored"));
        Assert.Equal(1, ledger.Runs);

        // The claim is taken over while the handler runs: its transaction (its write with the answer) does not commit.
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ledger.Gate = async () =>
        {
            running.TrySetResult();
            await release.Task;
        };
        var second = Guid.NewGuid();
        await raw.WriteAsync(DeduplicationServerTests.Request(3, second, "ledger/Post", "[\"alice\",7]"));
        await running.Task.WaitAsync(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromMinutes(61));
        DeduplicationClaim takeover = await store.ClaimAsync(
            new DeduplicationKey(second, "ledger/Post", System.IO.Hashing.XxHash128.HashToUInt128("[\"alice\",7]"u8)), Lease);
        Assert.Equal(DeduplicationClaimStatus.Claimed, takeover.Status);
        release.SetResult();
        (_, DeduplicationServerTests.Answer lost) = await DeduplicationServerTests.ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(RpcStatusCode.Aborted, lost.Code);
        Assert.Equal(5, (long)await _redis.Connection.GetDatabase().StringGetAsync(ledgerKey));
    }

    [Fact]
    public async Task WhenRedisIsGone_ClaimsFail_AndTheStatusSaysSo()
    {
        await using RedisServer lonely = await RedisServer.StartAsync();
        await using var store = new RedisDeduplicationStore(new RedisDeduplicationStoreOptions
        {
            Configuration = lonely.Configuration + ",connectTimeout=500,asyncTimeout=500,syncTimeout=500",
        });
        Assert.Equal(DeduplicationClaimStatus.Claimed, (await store.ClaimAsync(Key(), Lease)).Status);
        await lonely.DisposeAsync();
        await Assert.ThrowsAnyAsync<RedisException>(async () => await store.ClaimAsync(Key(), Lease));
        await Assert.ThrowsAnyAsync<Exception>(async () => await store.GetStatusAsync());
    }

    /// <summary>A ledger that adds to a Redis counter and stores its answer in the same MULTI/EXEC.</summary>
    private sealed class RedisLedger : ILedger
    {
        private readonly RedisDeduplicationStore _store;
        private readonly IDatabase _database;
        private readonly string _key;
        private int _runs;

        public RedisLedger(RedisDeduplicationStore store, IDatabase database, string key)
        {
            _store = store;
            _database = database;
            _key = key;
        }

        public int Runs => Volatile.Read(ref _runs);

        public Func<Task>? Gate { get; set; }

        public async Task<string> PostAsync(string account, int amount, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _runs);
            if (Gate is { } gate)
            {
                await gate();
            }

            long total = (long)await _database.StringGetAsync(_key) + amount;
            string receipt = $"{account}:{amount}:total{total}";
            RpcCallContext.Current!.ResponseTrailers.Add("x-stored", "redis");
            ITransaction transaction = _database.CreateTransaction();
            _ = transaction.StringIncrementAsync(_key, amount);
            _store.AddCompletion(transaction, receipt);
            if (!await transaction.ExecuteAsync())
            {
                throw new RpcException(RpcStatusCode.Aborted, "the claim was taken over; nothing was written");
            }

            return receipt;
        }

        public Task VoidAsync(string account, CancellationToken cancellationToken = default) => Task.CompletedTask;
    }
}

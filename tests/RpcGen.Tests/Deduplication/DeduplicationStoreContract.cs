using RpcGen.Server.Deduplication;
using Xunit;

namespace RpcGen.Tests.Deduplication;

/// <summary>
/// What every <see cref="IDeduplicationStore"/> must do, run against each store: one claim per id however close the
/// claims, the answer for repeats, conflicts, fencing tokens, the window and the size bound, and (for stores that expire
/// claims) the takeover of a claim whose lease ran out.
/// </summary>
public abstract class DeduplicationStoreContract
{
    protected static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);

    /// <summary>A new, empty store with a one-hour window, bounded at <paramref name="capacity"/> entries.</summary>
    protected abstract Task<IDeduplicationStore> CreateAsync(FakeTimeProvider time, int capacity = 1000);

    /// <summary>True when claims expire after their lease (stores shared by processes, or kept across restarts).</summary>
    protected virtual bool ExpiresClaims => true;

    protected static DeduplicationKey Key(Guid? id = null, string method = "ledger/Post", string payload = "[\"a\",1]") =>
        new(id ?? Guid.NewGuid(), method, System.IO.Hashing.XxHash128.HashToUInt128(System.Text.Encoding.UTF8.GetBytes(payload)));

    protected static DeduplicationRecord Answer(string body = "\"ok\"", byte[]? metadata = null) =>
        new(RpcStatusCode.OK, null, null, System.Text.Encoding.UTF8.GetBytes(body), metadata ?? Array.Empty<byte>());

    [Fact]
    public async Task Claim_ThenARepeatFindsItRunning_ThenCompletedWithTheWholeAnswer()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using IDeduplicationStore store = await CreateAsync(time);
        DeduplicationKey key = Key();
        DeduplicationClaim claim = await store.ClaimAsync(key, Lease);
        Assert.Equal(DeduplicationClaimStatus.Claimed, claim.Status);
        Assert.Equal(DeduplicationClaimStatus.Running, (await store.ClaimAsync(key, Lease)).Status);

        byte[] metadata = RpcGen.Protocol.FrameEncoder.EncodeMetadata(new RpcMetadata { { "h", "1" } }, new RpcMetadata { { "t", "2" } });
        Assert.True(await store.CompleteAsync(key.CallId, claim.Token, Answer("\"paid\"", metadata)));
        DeduplicationClaim repeat = await store.ClaimAsync(key, Lease);
        Assert.Equal(DeduplicationClaimStatus.Completed, repeat.Status);
        Assert.Equal(RpcStatusCode.OK, repeat.Record!.Status);
        Assert.Null(repeat.Record.Message);
        Assert.Equal("\"paid\"", System.Text.Encoding.UTF8.GetString(repeat.Record.Body.Span));
        Assert.Equal(metadata, repeat.Record.Metadata.ToArray());

        // An error is an answer too: its status, message and pushback come back.
        DeduplicationKey failed = Key();
        DeduplicationClaim second = await store.ClaimAsync(failed, Lease);
        Assert.True(await store.CompleteAsync(failed.CallId, second.Token,
            new DeduplicationRecord(RpcStatusCode.FailedPrecondition, "no funds", -1, default, default)));
        DeduplicationRecord error = (await store.ClaimAsync(failed, Lease)).Record!;
        Assert.Equal((RpcStatusCode.FailedPrecondition, "no funds"), (error.Status, error.Message));
        Assert.Equal(((int?)-1, 0), (error.PushbackMilliseconds, error.Body.Length));
    }

    [Fact]
    public async Task TheSameId_WithOtherArgumentsOrForAnotherMethod_IsAConflict()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using IDeduplicationStore store = await CreateAsync(time);
        var id = Guid.NewGuid();
        DeduplicationClaim claim = await store.ClaimAsync(Key(id), Lease);
        Assert.Equal(DeduplicationClaimStatus.Conflict, (await store.ClaimAsync(Key(id, payload: "[\"a\",2]"), Lease)).Status);
        Assert.Equal(DeduplicationClaimStatus.Conflict, (await store.ClaimAsync(Key(id, method: "ledger/Refund"), Lease)).Status);

        await store.CompleteAsync(id, claim.Token, Answer());
        Assert.Equal(DeduplicationClaimStatus.Conflict, (await store.ClaimAsync(Key(id, payload: "[\"a\",2]"), Lease)).Status);
        Assert.Equal(DeduplicationClaimStatus.Completed, (await store.ClaimAsync(Key(id), Lease)).Status);
    }

    [Fact]
    public async Task Tokens_FenceCompleteRenewAndAbandon()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using IDeduplicationStore store = await CreateAsync(time);
        DeduplicationKey key = Key();
        DeduplicationClaim claim = await store.ClaimAsync(key, Lease);
        long wrong = claim.Token + 1;
        Assert.False(await store.RenewAsync(key.CallId, wrong, Lease));
        Assert.False(await store.CompleteAsync(key.CallId, wrong, Answer("\"forged\"")));
        await store.AbandonAsync(key.CallId, wrong);
        Assert.Equal(DeduplicationClaimStatus.Running, (await store.ClaimAsync(key, Lease)).Status);

        Assert.True(await store.RenewAsync(key.CallId, claim.Token, Lease));
        Assert.True(await store.CompleteAsync(key.CallId, claim.Token, Answer()));
        Assert.True(await store.CompleteAsync(key.CallId, claim.Token, Answer("\"twice\""))); // completed already: the first stays
        Assert.False(await store.RenewAsync(key.CallId, claim.Token, Lease));                // nothing left to renew
        Assert.Equal("\"ok\"", System.Text.Encoding.UTF8.GetString((await store.ClaimAsync(key, Lease)).Record!.Body.Span));
        Assert.False(await store.CompleteAsync(Guid.NewGuid(), claim.Token, Answer())); // an id never claimed
    }

    [Fact]
    public async Task AnAbandonedClaim_IsClaimedAgain_WithANewToken()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using IDeduplicationStore store = await CreateAsync(time);
        DeduplicationKey key = Key();
        DeduplicationClaim first = await store.ClaimAsync(key, Lease);
        await store.AbandonAsync(key.CallId, first.Token);
        DeduplicationClaim second = await store.ClaimAsync(key, Lease);
        Assert.Equal(DeduplicationClaimStatus.Claimed, second.Status);
        Assert.NotEqual(first.Token, second.Token);
        Assert.False(await store.CompleteAsync(key.CallId, first.Token, Answer())); // the first run's token no longer holds it
        Assert.True(await store.CompleteAsync(key.CallId, second.Token, Answer()));
    }

    [Fact]
    public async Task AHundredClaimsOfOneIdAtOnce_OneWins()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using IDeduplicationStore store = await CreateAsync(time);
        for (int round = 0; round < 5; round++)
        {
            DeduplicationKey key = Key();
            using var start = new ManualResetEventSlim();
            Task<DeduplicationClaim>[] claims = Enumerable.Range(0, 100)
                .Select(_ => Task.Run(async () =>
                {
                    start.Wait();
                    return await store.ClaimAsync(key, Lease);
                }))
                .ToArray();
            start.Set();
            DeduplicationClaim[] results = await Task.WhenAll(claims);
            Assert.Single(results, r => r.Status == DeduplicationClaimStatus.Claimed);
            Assert.Equal(99, results.Count(r => r.Status == DeduplicationClaimStatus.Running));
        }
    }

    [Fact]
    public async Task Answers_GoWhenTheirWindowEnds()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using IDeduplicationStore store = await CreateAsync(time);
        DeduplicationKey key = Key();
        await store.CompleteAsync(key.CallId, (await store.ClaimAsync(key, Lease)).Token, Answer());
        time.Advance(TimeSpan.FromMinutes(59));
        Assert.Equal(DeduplicationClaimStatus.Completed, (await store.ClaimAsync(key, Lease)).Status);

        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(1, await store.SweepAsync());
        Assert.Equal(DeduplicationClaimStatus.Claimed, (await store.ClaimAsync(key, Lease)).Status); // gone: runs again
    }

    [Fact]
    public async Task Full_TheOldestAnswersGo_AndAreCounted_ButLiveClaimsStay()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using IDeduplicationStore store = await CreateAsync(time, capacity: 10);
        var keys = new List<DeduplicationKey>();
        for (int i = 0; i < 10; i++)
        {
            DeduplicationKey key = Key();
            keys.Add(key);
            await store.CompleteAsync(key.CallId, (await store.ClaimAsync(key, Lease)).Token, Answer());
            time.Advance(TimeSpan.FromMilliseconds(10));
        }

        DeduplicationKey eleventh = Key();
        Assert.Equal(DeduplicationClaimStatus.Claimed, (await store.ClaimAsync(eleventh, Lease)).Status);
        DeduplicationStoreStatus status = await store.GetStatusAsync();
        Assert.Equal(1, status.Evicted);
        Assert.True(status.Entries <= 10, $"{status.Entries} entries");
        Assert.Equal(DeduplicationClaimStatus.Completed, (await store.ClaimAsync(keys[9], Lease)).Status); // the newest stayed

        // Nothing but live claims: a new one is refused rather than dropping a claim whose handler runs.
        await using IDeduplicationStore running = await CreateAsync(time, capacity: 10);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(DeduplicationClaimStatus.Claimed, (await running.ClaimAsync(Key(), Lease)).Status);
        }

        Assert.Equal(DeduplicationClaimStatus.Full, (await running.ClaimAsync(Key(), Lease)).Status);
        Assert.Equal(DeduplicationStoreHealth.Degraded, (await running.GetStatusAsync()).Health);
    }

    [Fact]
    public async Task AClaimWhoseLeaseRanOut_IsTakenOver_AndTheOldTokenIsFencedOff()
    {
        if (!ExpiresClaims)
        {
            return;
        }

        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using IDeduplicationStore store = await CreateAsync(time);
        DeduplicationKey key = Key();
        DeduplicationClaim first = await store.ClaimAsync(key, Lease);
        time.Advance(TimeSpan.FromSeconds(6));
        Assert.True(await store.RenewAsync(key.CallId, first.Token, Lease)); // renewed: good for 10 s from now
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(DeduplicationClaimStatus.Running, (await store.ClaimAsync(key, Lease)).Status);

        time.Advance(TimeSpan.FromSeconds(2)); // 11 s without renewal: the server that held it is taken for dead
        DeduplicationClaim second = await store.ClaimAsync(key, Lease);
        Assert.Equal(DeduplicationClaimStatus.Claimed, second.Status);
        Assert.False(await store.RenewAsync(key.CallId, first.Token, Lease));
        Assert.False(await store.CompleteAsync(key.CallId, first.Token, Answer("\"late\"")));
        Assert.True(await store.CompleteAsync(key.CallId, second.Token, Answer()));
        Assert.Equal("\"ok\"", System.Text.Encoding.UTF8.GetString((await store.ClaimAsync(key, Lease)).Record!.Body.Span));
    }
}

public sealed class MemoryDeduplicationStoreTests : DeduplicationStoreContract
{
    protected override bool ExpiresClaims => false;

    protected override Task<IDeduplicationStore> CreateAsync(FakeTimeProvider time, int capacity = 1000) =>
        Task.FromResult<IDeduplicationStore>(new MemoryDeduplicationStore(capacity, 64L * 1024 * 1024, TimeSpan.FromHours(1), time));

    [Fact]
    public async Task BytesOfAnswers_AreBounded_TheOldestGoFirst()
    {
        var store = new MemoryDeduplicationStore(capacity: 1000, maxBytes: 1000, TimeSpan.FromHours(1), new FakeTimeProvider());
        for (int i = 0; i < 100; i++)
        {
            DeduplicationKey key = Key();
            await store.CompleteAsync(key.CallId, (await store.ClaimAsync(key, Lease)).Token, Answer(new string('x', 100)));
        }

        // Each answer counts its 100 bytes and 16 of overhead: eight fit in 1000 bytes.
        Assert.InRange(store.Count, 8, 9);
        Assert.InRange(store.Bytes, 0, 1000);
        Assert.Equal(100 - store.Count, (await store.GetStatusAsync()).Evicted);
    }

    [Fact]
    public async Task AFloodOfAbandonedClaims_DoesNotGrowTheStore()
    {
        var store = new MemoryDeduplicationStore(capacity: 100, maxBytes: 1000, TimeSpan.FromHours(1), new FakeTimeProvider());
        for (int i = 0; i < 100_000; i++)
        {
            DeduplicationKey key = Key();
            await store.AbandonAsync(key.CallId, (await store.ClaimAsync(key, Lease)).Token);
        }

        Assert.Equal(0, store.Count);
        Assert.InRange(store.Queued, 0, 64 + 2);
    }

    [Fact]
    public void BoundsOutOfRange_AreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryDeduplicationStore(capacity: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryDeduplicationStore(maxBytes: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryDeduplicationStore(window: TimeSpan.Zero));
        _ = new MemoryDeduplicationStore(capacity: 1, maxBytes: 0, window: TimeSpan.FromTicks(1));
    }

    [Fact]
    public async Task AnAnswerTakesNoPlaceOfItsOwn_ASweepCountsWhatWent_AndFullShows()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new MemoryDeduplicationStore(capacity: 2, maxBytes: 1000, TimeSpan.FromHours(1), time);
        DeduplicationKey a = Key(), b = Key();
        long token = (await store.ClaimAsync(a, Lease)).Token;
        await store.ClaimAsync(b, Lease);
        DeduplicationStoreStatus status = await store.GetStatusAsync();
        Assert.Equal((DeduplicationStoreHealth.Degraded, 2), (status.Health, status.Entries));
        Assert.Contains("full", status.Description, StringComparison.Ordinal);

        Assert.True(await store.CompleteAsync(a.CallId, token, Answer())); // at the bound: the answer replaces its claim
        Assert.Equal(2, store.Count);
        Assert.Equal(DeduplicationClaimStatus.Completed, (await store.ClaimAsync(a, Lease)).Status);

        time.Advance(TimeSpan.FromHours(2));
        Assert.Equal(1, await store.SweepAsync()); // a's window ended; b still runs
        status = await store.GetStatusAsync();
        Assert.Equal((DeduplicationStoreHealth.Healthy, 1), (status.Health, status.Entries));
        Assert.DoesNotContain("full", status.Description, StringComparison.Ordinal);
    }
}

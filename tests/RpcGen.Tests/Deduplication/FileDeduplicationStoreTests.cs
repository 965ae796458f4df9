using RpcGen.Server.Deduplication;
using Xunit;

namespace RpcGen.Tests.Deduplication;

/// <summary>The file store: the contract, answers kept across a crash, a torn journal tail, one process per directory.</summary>
public sealed class FileDeduplicationStoreTests : DeduplicationStoreContract, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "rpcgen-file-" + Guid.NewGuid().ToString("N"));

    protected override bool ExpiresClaims => false;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A store a failed test left open.
        }
    }

    private FileDeduplicationStoreOptions Options(
        TimeProvider? time = null, string name = "store", int capacity = 1000, bool flush = false) => new()
    {
        FlushToDisk = flush,
        Directory = Path.Combine(_directory, name),
        Window = TimeSpan.FromHours(1),
        Capacity = capacity,
        TimeProvider = time ?? TimeProvider.System,
    };

    protected override Task<IDeduplicationStore> CreateAsync(FakeTimeProvider time, int capacity = 1000) =>
        Task.FromResult<IDeduplicationStore>(new FileDeduplicationStore(Options(time, Guid.NewGuid().ToString("N"), capacity)));

    [Fact]
    public async Task FlushingToDisk_AfterACrash_EveryAnswerGivenIsThere_AndTheDeadProcessesClaimsAreGone()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new FileDeduplicationStore(Options(time, flush: true)); // each operation waits for its write and fsync
        var answered = new List<(DeduplicationKey Key, string Body)>();
        for (int i = 0; i < 200; i++)
        {
            DeduplicationKey key = Key(payload: $"[{i}]");
            DeduplicationClaim claim = await store.ClaimAsync(key, Lease);
            if (i % 10 == 0)
            {
                continue; // still running when the process dies
            }

            if (i % 10 == 1)
            {
                await store.AbandonAsync(key.CallId, claim.Token);
                continue;
            }

            Assert.True(await store.CompleteAsync(key.CallId, claim.Token, Answer($"\"{i}\"", new byte[] { 0, 0, 1, 0, 1, 0, (byte)'x', 0, 0 })));
            answered.Add((key, $"\"{i}\""));
        }

        DeduplicationKey running = Key();
        await store.ClaimAsync(running, Lease);
        store.CrashForTests();

        await using var reopened = new FileDeduplicationStore(Options(time));
        foreach ((DeduplicationKey key, string body) in answered)
        {
            DeduplicationClaim repeat = await reopened.ClaimAsync(key, Lease);
            Assert.Equal(DeduplicationClaimStatus.Completed, repeat.Status);
            Assert.Equal(body, System.Text.Encoding.UTF8.GetString(repeat.Record!.Body.Span));
            Assert.Equal(9, repeat.Record.Metadata.Length);
        }

        Assert.Equal(160, answered.Count);
        Assert.Equal(DeduplicationClaimStatus.Claimed, (await reopened.ClaimAsync(running, Lease)).Status); // its process died
        Assert.Equal(161, (await reopened.GetStatusAsync()).Entries);
    }

    [Fact]
    public async Task ATornTailOfTheJournal_IsDropped_AndWhatCameBeforeItStays()
    {
        var store = new FileDeduplicationStore(Options());
        DeduplicationKey kept = Key();
        await store.CompleteAsync(kept.CallId, (await store.ClaimAsync(kept, Lease)).Token, Answer("\"kept\""));
        await store.WrittenForTests(); // by default the write loop follows the answers at once; here it has caught up
        store.CrashForTests();

        // The process died in the middle of its last write: half a record, then garbage.
        string journal = Directory.GetFiles(Path.Combine(_directory, "store"), "journal.*").Single();
        byte[] bytes = File.ReadAllBytes(journal);
        await File.AppendAllBytesAsync(journal, bytes.AsSpan(16, Math.Min(30, bytes.Length - 16)).ToArray());
        await File.AppendAllBytesAsync(journal, new byte[] { 0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3 });

        await using var reopened = new FileDeduplicationStore(Options());
        Assert.Equal("\"kept\"", System.Text.Encoding.UTF8.GetString((await reopened.ClaimAsync(kept, Lease)).Record!.Body.Span));
        DeduplicationKey next = Key();
        Assert.True(await reopened.CompleteAsync(next.CallId, (await reopened.ClaimAsync(next, Lease)).Token, Answer()));
        Assert.Equal(2, (await reopened.GetStatusAsync()).Entries);
    }

    [Fact]
    public async Task OneProcessAtATime_UsesADirectory()
    {
        await using var store = new FileDeduplicationStore(Options());
        IOException error = Assert.Throws<IOException>(() => new FileDeduplicationStore(Options()));
        Assert.Contains("used by another process", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reopened_TheJournalStartsEmpty_AndTheSnapshotHoldsTheState()
    {
        var store = new FileDeduplicationStore(Options());
        for (int i = 0; i < 100; i++)
        {
            DeduplicationKey key = Key();
            await store.CompleteAsync(key.CallId, (await store.ClaimAsync(key, Lease)).Token, Answer());
        }

        await store.DisposeAsync();
        await using var reopened = new FileDeduplicationStore(Options());
        string[] journals = Directory.GetFiles(Path.Combine(_directory, "store"), "journal.*");
        Assert.Equal(16, new FileInfo(Assert.Single(journals)).Length); // its header only
        Assert.True(new FileInfo(Path.Combine(_directory, "store", "snapshot")).Length > 100 * 50);
        Assert.Equal(100, (await reopened.GetStatusAsync()).Entries);
    }

    [Fact]
    public async Task EveryFieldOfAnAnswer_ComesBackFromTheJournal_ThenFromTheSnapshot_WithItsToken()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new FileDeduplicationStore(Options(time));
        byte[] metadata = RpcGen.Protocol.FrameEncoder.EncodeMetadata(new RpcMetadata { { "h", "1" } }, new RpcMetadata { { "t", "2" } });
        var answers = new List<(DeduplicationKey Key, long Token, DeduplicationRecord Record)>();
        foreach (DeduplicationRecord record in new DeduplicationRecord[]
        {
            new(RpcStatusCode.OK, null, null, "\"paid\""u8.ToArray(), metadata),
            new(RpcStatusCode.FailedPrecondition, "ñö funds ✓", -1, default, metadata),
            new(RpcStatusCode.ResourceExhausted, "", 250, "[]"u8.ToArray(), default),
            new(RpcStatusCode.Unavailable, "later", 0, default, default),
        })
        {
            DeduplicationKey key = Key(method: $"ledger/M{answers.Count}");
            long token = (await store.ClaimAsync(key, Lease)).Token;
            Assert.True(await store.CompleteAsync(key.CallId, token, record));
            answers.Add((key, token, record));
        }

        await store.WrittenForTests();
        store.CrashForTests();

        // The first open reads the journal (the snapshot written when the store opened was empty) and folds it into a
        // new snapshot; the second reads that snapshot.
        for (int open = 0; open < 2; open++)
        {
            await using var reopened = new FileDeduplicationStore(Options(time));
            foreach ((DeduplicationKey key, long token, DeduplicationRecord expected) in answers)
            {
                DeduplicationClaim repeat = await reopened.ClaimAsync(key, Lease);
                Assert.Equal(DeduplicationClaimStatus.Completed, repeat.Status);
                DeduplicationRecord actual = repeat.Record!;
                Assert.Equal(
                    (expected.Status, expected.Message, expected.PushbackMilliseconds), (actual.Status, actual.Message, actual.PushbackMilliseconds));
                Assert.Equal(expected.Body.ToArray(), actual.Body.ToArray());
                Assert.Equal(expected.Metadata.ToArray(), actual.Metadata.ToArray());
                Assert.Equal(DeduplicationClaimStatus.Conflict, (await reopened.ClaimAsync(key with { Method = "ledger/Other" }, Lease)).Status);

                // The token came back too: the run that completed it is still told its answer is the one kept.
                Assert.True(await reopened.CompleteAsync(key.CallId, token, Answer("\"late\"")));
                Assert.False(await reopened.CompleteAsync(key.CallId, token + 1, Answer("\"forged\"")));
            }
        }
    }

    [Fact]
    public async Task AnEvictedAnswer_StaysGoneAfterAReopen_AndASweepSaysHowManyWent()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new FileDeduplicationStore(Options(time, capacity: 2));
        DeduplicationKey first = Key(), second = Key(), third = Key();
        foreach (DeduplicationKey key in new[] { first, second, third })
        {
            await store.CompleteAsync(key.CallId, (await store.ClaimAsync(key, Lease)).Token, Answer());
        }

        await store.WrittenForTests();
        store.CrashForTests();

        await using (var reopened = new FileDeduplicationStore(Options(time, capacity: 2)))
        {
            Assert.Equal(2, (await reopened.GetStatusAsync()).Entries);
            Assert.Equal(DeduplicationClaimStatus.Completed, (await reopened.ClaimAsync(third, Lease)).Status);
            Assert.Equal(DeduplicationClaimStatus.Completed, (await reopened.ClaimAsync(second, Lease)).Status);
            Assert.Equal(DeduplicationClaimStatus.Claimed, (await reopened.ClaimAsync(first, Lease)).Status); // evicted before the crash

            time.Advance(TimeSpan.FromHours(2));
            Assert.Equal(1, await reopened.SweepAsync()); // second went for first's claim; third's window ended; first still runs
            Assert.Equal(1, (await reopened.GetStatusAsync()).Entries);
        }
    }

    [Fact]
    public async Task OptionsOutOfRange_AndFilesThatAreNotAStore_AreRefused()
    {
        Assert.Throws<ArgumentNullException>(() => new FileDeduplicationStore(null!));
        Assert.Throws<ArgumentException>(() => new FileDeduplicationStore(new FileDeduplicationStoreOptions { Directory = " " }));
        foreach (Action<FileDeduplicationStoreOptions> bad in new Action<FileDeduplicationStoreOptions>[]
        {
            o => o.Window = TimeSpan.Zero,
            o => o.Capacity = 0,
            o => o.MaxBytes = -1,
        })
        {
            FileDeduplicationStoreOptions options = Options(name: "bad");
            bad(options);
            ArgumentException error = Assert.Throws<ArgumentException>(() => new FileDeduplicationStore(options));
            Assert.Contains("Window must be positive, Capacity at least 1, MaxBytes 0 or more", error.Message, StringComparison.Ordinal);
        }

        FileDeduplicationStoreOptions edge = Options(name: "edge", capacity: 1);
        edge.MaxBytes = 0;
        await new FileDeduplicationStore(edge).DisposeAsync(); // the smallest bounds are allowed

        string directory = Path.Combine(_directory, "garbage");
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "snapshot"), "RPCGDDS1"u8.ToArray()); // the header, cut short
        IOException torn = Assert.Throws<IOException>(() => new FileDeduplicationStore(Options(name: "garbage")));
        Assert.Contains("is not a deduplication snapshot", torn.Message, StringComparison.Ordinal);
        File.WriteAllBytes(Path.Combine(directory, "snapshot"), new byte[64]); // (the failed open let go of the lock file)
        IOException wrong = Assert.Throws<IOException>(() => new FileDeduplicationStore(Options(name: "garbage")));
        Assert.Contains("is not a deduplication snapshot", wrong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AJournalWithAWrongHeader_IsNotReplayed()
    {
        var store = new FileDeduplicationStore(Options());
        DeduplicationKey key = Key();
        await store.CompleteAsync(key.CallId, (await store.ClaimAsync(key, Lease)).Token, Answer());
        await store.WrittenForTests();
        store.CrashForTests();
        string journal = Directory.GetFiles(Path.Combine(_directory, "store"), "journal.*").Single();
        byte[] bytes = File.ReadAllBytes(journal);
        bytes[0] ^= 0xFF; // not RPCGDDJ1: another program's file, or a corrupt one
        File.WriteAllBytes(journal, bytes);

        await using var reopened = new FileDeduplicationStore(Options());
        Assert.Equal(0, (await reopened.GetStatusAsync()).Entries);
    }
}

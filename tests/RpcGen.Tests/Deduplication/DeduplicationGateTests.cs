using RpcGen.Server.Deduplication;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Deduplication;

/// <summary>
/// The server's deduplication gate on a fake clock: leases renewed every third of the lease while a handler runs, a lost
/// claim cancels its handler, the sweep runs every <see cref="DeduplicationOptions.SweepInterval"/>, a store that
/// fails a renewal or a sweep is tried again at the next round, and a repeat of a call that runs elsewhere polls
/// 10, 20, 40 … up to 250 ms.
/// </summary>
public sealed class DeduplicationGateTests
{
    private static async Task<(RpcServer Server, Ledger Ledger, CountingStore Store, FakeTimeProvider Time)> StartAsync()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new CountingStore(new MemoryDeduplicationStore());
        var options = new RpcServerOptions { TimeProvider = time };
        options.Deduplication.Store = store;
        options.Deduplication.Lease = TimeSpan.FromSeconds(3);
        options.Deduplication.SweepInterval = TimeSpan.FromMinutes(1);
        var server = new RpcServer(options);
        var ledger = new Ledger();
        server.Map<ILedger>(ledger);
        await server.StartAsync();
        return (server, ledger, store, time);
    }

    [Fact]
    public async Task A_running_claim_is_renewed_every_third_of_its_lease_and_losing_it_cancels_the_handler()
    {
        (RpcServer server, Ledger ledger, CountingStore store, FakeTimeProvider time) = await StartAsync();
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ledger.Gate = async token =>
        {
            await using (token.Register(() => cancelled.TrySetResult()))
            {
                await Task.Delay(Timeout.Infinite, token);
            }
        };

        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(DeduplicationServerTests.Request(1, Guid.NewGuid(), "ledger/Post", "[\"a\",1]"));
            await Wait.UntilAsync(() => ledger.Runs == 1);

            time.Advance(TimeSpan.FromMilliseconds(999));
            Assert.Equal(0, store.Renewals);
            time.Advance(TimeSpan.FromMilliseconds(1)); // Lease / 3 = 1 s
            await Wait.UntilAsync(() => store.Renewals == 1);

            store.FailRenewals = true; // a store that fails a round is asked again at the next: the lease has time left
            time.Advance(TimeSpan.FromSeconds(1));
            await Wait.UntilAsync(() => store.Renewals == 2);
            Assert.False(cancelled.Task.IsCompleted);
            store.FailRenewals = false;
            time.Advance(TimeSpan.FromSeconds(1));
            await Wait.UntilAsync(() => store.Renewals == 3);
            Assert.False(cancelled.Task.IsCompleted);

            store.LoseClaims = true; // another run took the id over: this one's answer would not be kept
            time.Advance(TimeSpan.FromSeconds(1));
            await cancelled.Task.WaitAsync(Wait.NoHang);
        }
    }

    [Fact]
    public async Task The_sweep_runs_every_interval_and_again_after_a_failure()
    {
        (RpcServer server, Ledger ledger, CountingStore store, FakeTimeProvider time) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            // The timers start with the first claim.
            await raw.WriteAsync(DeduplicationServerTests.Request(1, Guid.NewGuid(), "ledger/Post", "[\"a\",1]"));
            await DeduplicationServerTests.ReadAnswerAsync(raw).WaitAsync(Wait.NoHang);

            store.FailSweeps = true;
            time.Advance(TimeSpan.FromSeconds(59));
            Assert.Equal(0, store.Sweeps);
            time.Advance(TimeSpan.FromSeconds(1));
            await Wait.UntilAsync(() => store.Sweeps == 1);

            store.FailSweeps = false;
            time.Advance(TimeSpan.FromMinutes(1));
            await Wait.UntilAsync(() => store.Sweeps == 2);
            Assert.Equal(1, ledger.Runs);
        }
    }

    [Fact]
    public async Task A_repeat_of_a_run_elsewhere_polls_from_10_ms_doubling_up_to_250_ms()
    {
        (RpcServer server, _, _, FakeTimeProvider time) = await StartAsync();
        await using (server)
        {
            var elsewhere = Guid.NewGuid(); // no run of this process holds it
            foreach ((int attempt, int pollMs) in new[] { (0, 10), (1, 20), (2, 40), (4, 160), (5, 250), (8, 250), (30, 250) })
            {
                Task waiting = server.Deduplication.WaitAsync(elsewhere, attempt, CancellationToken.None);
                time.Advance(TimeSpan.FromMilliseconds(pollMs - 1));
                Assert.False(waiting.IsCompleted, $"attempt {attempt} polled before {pollMs} ms");
                time.Advance(TimeSpan.FromMilliseconds(1));
                await waiting.WaitAsync(Wait.NoHang);
            }

            using var stop = new CancellationTokenSource();
            Task cancelled = server.Deduplication.WaitAsync(elsewhere, 0, stop.Token);
            stop.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Wait.NoHang));
        }
    }

    /// <summary>A store that is not the memory store (so its leases are renewed), counting renewals and sweeps.</summary>
    private sealed class CountingStore : IDeduplicationStore
    {
        private readonly IDeduplicationStore _inner;
        private int _renewals;
        private int _sweeps;

        public CountingStore(IDeduplicationStore inner) => _inner = inner;

        public bool FailRenewals { get; set; }

        public bool LoseClaims { get; set; }

        public bool FailSweeps { get; set; }

        public int Renewals => Volatile.Read(ref _renewals);

        public int Sweeps => Volatile.Read(ref _sweeps);

        public string Name => "counting";

        public ValueTask<DeduplicationClaim> ClaimAsync(DeduplicationKey key, TimeSpan lease, CancellationToken cancellationToken = default) =>
            _inner.ClaimAsync(key, lease, cancellationToken);

        public ValueTask<bool> CompleteAsync(Guid callId, long token, DeduplicationRecord record, CancellationToken cancellationToken = default) =>
            _inner.CompleteAsync(callId, token, record, cancellationToken);

        public ValueTask<bool> RenewAsync(Guid callId, long token, TimeSpan lease, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _renewals);
            Assert.Equal(TimeSpan.FromSeconds(3), lease);
            return FailRenewals ? ValueTask.FromException<bool>(new IOException("renewal failed"))
                : LoseClaims ? ValueTask.FromResult(false)
                : _inner.RenewAsync(callId, token, lease, cancellationToken);
        }

        public ValueTask AbandonAsync(Guid callId, long token, CancellationToken cancellationToken = default) =>
            _inner.AbandonAsync(callId, token, cancellationToken);

        public ValueTask<int> SweepAsync(CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _sweeps);
            return FailSweeps ? ValueTask.FromException<int>(new IOException("sweep failed")) : _inner.SweepAsync(cancellationToken);
        }

        public ValueTask<DeduplicationStoreStatus> GetStatusAsync(CancellationToken cancellationToken = default) =>
            _inner.GetStatusAsync(cancellationToken);

        public ValueTask DisposeAsync() => _inner.DisposeAsync();
    }
}

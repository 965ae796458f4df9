using System;
using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Server.Deduplication;

/// <summary>
/// Where a server keeps the calls of <c>[Deduplicate]</c> methods: which call ids were claimed, by whom, and what their
/// handler answered (docs/resilience.md). The server claims a call id before the handler runs, renews the claim while
/// it runs, and completes it with the answer (or abandons it when the handler gave up); a repeat of the id gets the
/// answer instead of a second run. <see cref="MemoryDeduplicationStore"/> is the default (one process, gone when it
/// stops), <see cref="FileDeduplicationStore"/> keeps one server's across restarts; the satellite packages RpcGen.Sqlite
/// and RpcGen.Redis keep it in SQLite and Redis, which servers may share.
/// </summary>
/// <remarks>
/// Every operation must be atomic against every other server that uses the same store: two claims of one id, however
/// close, give <see cref="DeduplicationClaimStatus.Claimed"/> to one of them only. The token a claim returns fences the
/// later operations: completing, renewing or abandoning with a token that no longer holds the claim (its lease ran out
/// and another server took it over) changes nothing and returns false.
/// </remarks>
public interface IDeduplicationStore : IAsyncDisposable
{
    /// <summary>A short name for logs, the admin page and health checks (for example "memory", "sqlite").</summary>
    string Name { get; }

    /// <summary>
    /// Claims <paramref name="key"/>'s call id for a run of its handler, held for <paramref name="lease"/> unless renewed.
    /// A claim whose lease has run out (its server died or stalled) is taken over with a new token.
    /// </summary>
    ValueTask<DeduplicationClaim> ClaimAsync(DeduplicationKey key, TimeSpan lease, CancellationToken cancellationToken = default);

    /// <summary>Extends a claim's lease; false when <paramref name="token"/> no longer holds it.</summary>
    ValueTask<bool> RenewAsync(Guid callId, long token, TimeSpan lease, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores the run's answer: repeats of the call id get it until the window ends. False when
    /// <paramref name="token"/> no longer holds the claim (nothing is stored). A claim this token already completed
    /// (the handler stored its answer in its own transaction) keeps that answer, and the result is true.
    /// </summary>
    ValueTask<bool> CompleteAsync(Guid callId, long token, DeduplicationRecord record, CancellationToken cancellationToken = default);

    /// <summary>Forgets a claim whose handler gave up (cancelled, or refused before it ran), so a retry may run it.</summary>
    ValueTask AbandonAsync(Guid callId, long token, CancellationToken cancellationToken = default);

    /// <summary>Removes answers older than the window and claims beyond the size bounds; returns how many went.</summary>
    ValueTask<int> SweepAsync(CancellationToken cancellationToken = default);

    /// <summary>What the store holds and whether it answers, for health checks and the admin page.</summary>
    ValueTask<DeduplicationStoreStatus> GetStatusAsync(CancellationToken cancellationToken = default);
}

/// <summary>A deduplicated call: its id (the same in every attempt), its method and a fingerprint of its arguments.</summary>
/// <param name="CallId">The id the client sends with every attempt of the call.</param>
/// <param name="Method">The method's full name, <c>service/Method</c>.</param>
/// <param name="Fingerprint">XXH128 of the request's argument bytes: the same id with other arguments is a conflict.</param>
public readonly record struct DeduplicationKey(Guid CallId, string Method, UInt128 Fingerprint);

/// <summary>What a claim found.</summary>
public enum DeduplicationClaimStatus
{
    /// <summary>The id is this caller's to run (new, or taken over from a claim whose lease ran out).</summary>
    Claimed,

    /// <summary>The id ran: <see cref="DeduplicationClaim.Record"/> is its answer.</summary>
    Completed,

    /// <summary>Another run of the id holds a live claim: wait for it and claim again.</summary>
    Running,

    /// <summary>The id was claimed for another method or other arguments: refused, never run.</summary>
    Conflict,

    /// <summary>The store is at its bound and nothing could be evicted (every entry is a live claim): refused, not run.</summary>
    Full,
}

/// <summary>The outcome of <see cref="IDeduplicationStore.ClaimAsync"/>.</summary>
public readonly struct DeduplicationClaim
{
    private DeduplicationClaim(DeduplicationClaimStatus status, long token, DeduplicationRecord? record)
    {
        Status = status;
        Token = token;
        Record = record;
    }

    /// <summary>What the claim found.</summary>
    public DeduplicationClaimStatus Status { get; }

    /// <summary>With <see cref="DeduplicationClaimStatus.Claimed"/>: the token that fences this run's later operations.</summary>
    public long Token { get; }

    /// <summary>With <see cref="DeduplicationClaimStatus.Completed"/>: the first run's answer.</summary>
    public DeduplicationRecord? Record { get; }

    /// <summary>The id is the caller's to run; <paramref name="token"/> fences its later operations.</summary>
    public static DeduplicationClaim Claimed(long token) => new(DeduplicationClaimStatus.Claimed, token, null);

    /// <summary>The id ran and answered <paramref name="record"/>.</summary>
    public static DeduplicationClaim Completed(DeduplicationRecord record) =>
        new(DeduplicationClaimStatus.Completed, 0, record ?? throw new ArgumentNullException(nameof(record)));

    /// <summary>Another run holds the id.</summary>
    public static DeduplicationClaim Running { get; } = new(DeduplicationClaimStatus.Running, 0, null);

    /// <summary>The id belongs to another method or other arguments.</summary>
    public static DeduplicationClaim Conflict { get; } = new(DeduplicationClaimStatus.Conflict, 0, null);

    /// <summary>No room.</summary>
    public static DeduplicationClaim Full { get; } = new(DeduplicationClaimStatus.Full, 0, null);

    /// <inheritdoc/>
    public override string ToString() => Status == DeduplicationClaimStatus.Claimed ? $"Claimed ({Token})" : Status.ToString();
}

/// <summary>How a store is doing.</summary>
public enum DeduplicationStoreHealth
{
    /// <summary>It answers, with room.</summary>
    Healthy,

    /// <summary>It answers, but is full (answers go before their window ends) or slow.</summary>
    Degraded,

    /// <summary>It does not answer: deduplicated calls are refused as not processed.</summary>
    Unhealthy,
}

/// <summary>What a store holds and whether it answers.</summary>
/// <param name="Health">Whether it answers.</param>
/// <param name="Description">A sentence for people: what is wrong, or where the store is.</param>
/// <param name="Entries">Call ids held (claims and answers); -1 when not known.</param>
/// <param name="Capacity">The most entries kept.</param>
/// <param name="Bytes">Bytes of stored answers (memory) or of the store's files (on disk); -1 when not known.</param>
/// <param name="MaxBytes">The bound on <paramref name="Bytes"/>.</param>
/// <param name="Evicted">Answers dropped before their window ended, to make room, since the store opened.</param>
public readonly record struct DeduplicationStoreStatus(
    DeduplicationStoreHealth Health, string Description, long Entries, long Capacity, long Bytes, long MaxBytes, long Evicted);

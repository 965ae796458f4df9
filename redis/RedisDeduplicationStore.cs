using System;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Server;
using RpcGen.Server.Deduplication;
using StackExchange.Redis;

namespace RpcGen.Redis;

/// <summary>
/// A deduplication store in Redis, which every server of a service may share, on one machine or many: a retry that
/// fails over to another server still finds the first run's claim or answer. Each operation is one Lua script, atomic
/// on the Redis server and fenced by the claim's token; claims expire after their lease (their server renews them while
/// the handler runs) and are taken over when it died. A handler whose writes go to the same Redis stores its answer in
/// its own MULTI/EXEC transaction with <see cref="AddCompletion{T}"/>.
/// </summary>
public sealed class RedisDeduplicationStore : IDeduplicationStore
{
    private const int SweepChunk = 1000;

    private readonly IConnectionMultiplexer _connection;
    private readonly bool _ownsConnection;
    private readonly IDatabase _database;
    private readonly string _prefix;
    private readonly RedisKey _index;
    private readonly TimeProvider _time;
    private readonly long _windowMs;
    private readonly long _capacity;
    private long _evicted;

    /// <summary>Connects (when given a configuration string) and uses the store's keys.</summary>
    /// <exception cref="ArgumentException">Neither a connection nor a configuration, or a bound out of range.</exception>
    /// <exception cref="RedisConnectionException">
    /// Redis cannot be reached (with <see cref="RedisDeduplicationStoreOptions.Configuration"/>).
    /// </exception>
    public RedisDeduplicationStore(RedisDeduplicationStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Window <= TimeSpan.Zero || options.Capacity < 1 || string.IsNullOrEmpty(options.Prefix))
        {
            throw new ArgumentException(
                "RedisDeduplicationStoreOptions: Window must be positive, Capacity at least 1, and Prefix set.", nameof(options));
        }

        if (options.Connection is { } connection)
        {
            _connection = connection;
        }
        else if (!string.IsNullOrWhiteSpace(options.Configuration))
        {
            _connection = ConnectionMultiplexer.Connect(options.Configuration);
            _ownsConnection = true;
        }
        else
        {
            throw new ArgumentException("RedisDeduplicationStoreOptions needs a Connection or a Configuration string.", nameof(options));
        }

        _database = _connection.GetDatabase(options.Database);
        _prefix = options.Prefix + ":";
        _index = _prefix + "index";
        _time = options.TimeProvider ?? TimeProvider.System;
        _windowMs = (long)options.Window.TotalMilliseconds;
        _capacity = options.Capacity;
    }

    /// <inheritdoc/>
    public string Name => "redis";

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>The key of a call id's hash.</summary>
    internal RedisKey Key(Guid callId) => _prefix + callId.ToString("N");

    /// <summary>The key TTL behind an entry's own expiry: a minute more, so the store's clock, not Redis's, decides.</summary>
    private long Ttl(long untilMs, long now) => Math.Max(1, untilMs - now) + 60_000;

    /// <inheritdoc/>
    public async ValueTask<DeduplicationClaim> ClaimAsync(DeduplicationKey key, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key.Method);
        long now = Now;
        long token = Random.Shared.NextInt64(1, long.MaxValue);
        long leaseUntil = now + (long)lease.TotalMilliseconds;
        var result = (RedisResult[])(await _database.ScriptEvaluateAsync(Scripts.Claim, new[] { Key(key.CallId), _index }, new RedisValue[]
        {
            key.Method, Fingerprint(key.Fingerprint), token, now, leaseUntil, _windowMs, _capacity, Ttl(leaseUntil + _windowMs, now),
        }).ConfigureAwait(false))!;
        switch ((string?)result[0])
        {
            case "claimed":
                Interlocked.Add(ref _evicted, (long)result[1]);
                return DeduplicationClaim.Claimed(token);
            case "completed":
                return DeduplicationClaim.Completed(Record(result));
            case "running":
                return DeduplicationClaim.Running;
            case "conflict":
                return DeduplicationClaim.Conflict;
            default:
                Interlocked.Add(ref _evicted, (long)result[1]);
                return DeduplicationClaim.Full;
        }
    }

    /// <inheritdoc/>
    public async ValueTask<bool> RenewAsync(Guid callId, long token, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        long now = Now;
        long leaseUntil = now + (long)lease.TotalMilliseconds;
        long expires = leaseUntil + _windowMs;
        RedisResult renewed = await _database.ScriptEvaluateAsync(Scripts.Renew, new[] { Key(callId), _index }, new RedisValue[]
        {
            token, leaseUntil, expires, Ttl(expires, now),
        }).ConfigureAwait(false);
        return (long)renewed == 1;
    }

    /// <inheritdoc/>
    public async ValueTask<bool> CompleteAsync(Guid callId, long token, DeduplicationRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        long now = Now;
        long expires = now + _windowMs;
        RedisResult completed = await _database.ScriptEvaluateAsync(Scripts.Complete, new[] { Key(callId), _index }, new RedisValue[]
        {
            token, (int)record.Status, record.Message ?? string.Empty, record.Message is null ? "0" : "1",
            record.PushbackMilliseconds is int pushback ? pushback.ToString(CultureInfo.InvariantCulture) : string.Empty,
            record.Body, record.Metadata, expires, Ttl(expires, now),
        }).ConfigureAwait(false);
        return (long)completed == 1;
    }

    /// <inheritdoc/>
    public async ValueTask AbandonAsync(Guid callId, long token, CancellationToken cancellationToken = default) =>
        await _database.ScriptEvaluateAsync(Scripts.Abandon, new[] { Key(callId), _index }, new RedisValue[] { token }).ConfigureAwait(false);

    /// <inheritdoc/>
    public async ValueTask<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        int total = 0;
        int removed;
        do
        {
            cancellationToken.ThrowIfCancellationRequested();
            RedisResult swept = await _database.ScriptEvaluateAsync(Scripts.Sweep, new[] { _index }, new RedisValue[] { Now, SweepChunk })
                .ConfigureAwait(false);
            removed = (int)swept;
            total += removed;
        }
        while (removed == SweepChunk);
        return total;
    }

    /// <inheritdoc/>
    public async ValueTask<DeduplicationStoreStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        long entries = await _database.SortedSetLengthAsync(_index).WaitAsync(cancellationToken).ConfigureAwait(false);
        bool full = entries >= _capacity;
        string where = string.Join<System.Net.EndPoint>(",", _connection.GetEndPoints());
        return new DeduplicationStoreStatus(
            full ? DeduplicationStoreHealth.Degraded : DeduplicationStoreHealth.Healthy,
            full ? $"Redis {where} under {_prefix}*, full: the oldest answers go before their window ends" : $"Redis {where} under {_prefix}*",
            entries, _capacity, -1, 0, Interlocked.Read(ref _evicted));
    }

    /// <summary>
    /// Adds the running <c>[Deduplicate]</c> call's answer (<paramref name="result"/>, with the response headers and
    /// trailers written so far) to <paramref name="transaction"/>, made on this store's Redis, with conditions that its
    /// claim still holds: the transaction's commands (the handler's own writes among them) run only if it does. When
    /// <c>ExecuteAsync</c> returns false, the claim was lost (another run took the call over): throw, so the call fails
    /// instead of answering. Returns false, adding nothing, when the call carries no call id.
    /// </summary>
    /// <exception cref="InvalidOperationException">Not called from a handler, or the call's claim is in another store.</exception>
    public bool AddCompletion<T>(ITransaction transaction, T result)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        RpcCallContext context = RpcCallContext.Current
            ?? throw new InvalidOperationException("AddCompletion is called from the handler of a [Deduplicate] method.");
        if (context.Deduplication is not { } claim)
        {
            return false;
        }

        if (!ReferenceEquals(claim.Store, this))
        {
            throw new InvalidOperationException(
                $"The claim of '{claim.Method}' is in the store '{claim.Store.Name}', not in this Redis store: choose this store for the service.");
        }

        DeduplicationRecord record = claim.CreateRecord(result);
        RedisKey key = Key(claim.CallId);
        long now = Now;
        long expires = now + _windowMs;
        transaction.AddCondition(Condition.HashEqual(key, "t", claim.Token));
        transaction.AddCondition(Condition.HashNotExists(key, "s"));
        _ = transaction.HashSetAsync(key, new HashEntry[]
        {
            new("s", (int)record.Status), new("b", record.Body), new("d", record.Metadata), new("x", expires),
        });
        _ = transaction.KeyExpireAsync(key, TimeSpan.FromMilliseconds(Ttl(expires, now)));
        _ = transaction.SortedSetAddAsync(_index, (string)key!, expires);
        return true;
    }

    /// <summary>Closes the connection when the store made it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_ownsConnection)
        {
            await _connection.CloseAsync().ConfigureAwait(false);
            _connection.Dispose();
        }
    }

    private static byte[] Fingerprint(UInt128 fingerprint)
    {
        byte[] bytes = new byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128LittleEndian(bytes, fingerprint);
        return bytes;
    }

    private static DeduplicationRecord Record(RedisResult[] row)
    {
        var status = (RpcStatusCode)int.Parse((string)row[1]!, CultureInfo.InvariantCulture);
        string pushback = (string?)row[3] ?? string.Empty;
        return new DeduplicationRecord(
            status,
            status == RpcStatusCode.OK ? null : (string?)row[2] ?? string.Empty,
            pushback.Length == 0 ? null : int.Parse(pushback, CultureInfo.InvariantCulture),
            (byte[]?)row[4] ?? Array.Empty<byte>(),
            (byte[]?)row[5] ?? Array.Empty<byte>());
    }
}

using System;
using RpcGen.Server;
using StackExchange.Redis;

namespace RpcGen.Redis;

/// <summary>Which Redis a <see cref="RedisDeduplicationStore"/> uses, under which keys, and its bounds.</summary>
public sealed class RedisDeduplicationStoreOptions
{
    /// <summary>
    /// A StackExchange.Redis configuration string (<c>"localhost:6379"</c>, <c>"redis1:6379,password=…,ssl=true"</c>): the
    /// store connects, and closes the connection when disposed. Ignored when <see cref="Connection"/> is set.
    /// </summary>
    public string? Configuration { get; set; }

    /// <summary>A connection the application owns (and closes); the store only uses it.</summary>
    public IConnectionMultiplexer? Connection { get; set; }

    /// <summary>The Redis database number; -1 (the default) for the connection's default.</summary>
    public int Database { get; set; } = -1;

    /// <summary>
    /// The start of every key the store writes: <c>{prefix}:&lt;call id&gt;</c> per call and <c>{prefix}:index</c>. The braces
    /// are a hash tag, so that on Redis Cluster all keys live on one shard (the store's scripts touch several keys at
    /// once). The default value is <c>{rpcgen-dedup}</c>; servers share a window by using the same Redis and prefix.
    /// </summary>
    public string Prefix { get; set; } = "{rpcgen-dedup}";

    /// <summary>How long an answer is kept for repeats. Positive. The default value is 24 hours.</summary>
    public TimeSpan Window { get; set; } = DeduplicationOptions.DefaultWindow;

    /// <summary>The most call ids kept; when reached, the oldest answers go first (counted as evicted). The default value is 1,000,000.</summary>
    public long Capacity { get; set; } = 1_000_000;

    /// <summary>
    /// The clock of windows and leases (tests pass a fake one). Servers sharing a store compare their clocks' times
    /// with each other's leases: keep them synchronized (NTP) well within <see cref="DeduplicationOptions.Lease"/>.
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}

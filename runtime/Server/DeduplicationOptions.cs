using System;
using System.Collections.Generic;
using RpcGen.Server.Deduplication;

namespace RpcGen.Server;

/// <summary>
/// Where and for how long a server remembers the calls of <c>[Deduplicate]</c> methods, so that a retry of a call that
/// already ran gets its answer instead of running it again (docs/resilience.md). By default in memory, bounded three
/// ways (entries, bytes of stored answers, age; the oldest go first); <see cref="Store"/> and <see cref="Stores"/> put
/// it in a store that outlives the process. Each setter checks its value and throws an
/// <see cref="ArgumentOutOfRangeException"/> naming the setting. Configuration key: <c>Deduplication</c>.
/// </summary>
public sealed class DeduplicationOptions
{
    /// <summary>How long an answer is kept unless configured otherwise: 24 hours, as payment APIs keep idempotency keys.</summary>
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromHours(24);

    private int _capacity = 10_000;
    private long _maxBytes = 64L * 1024 * 1024;
    private TimeSpan _window = DefaultWindow;
    private TimeSpan _lease = TimeSpan.FromSeconds(10);
    private TimeSpan _sweepInterval = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The store of every service without an entry in <see cref="Stores"/>; null (the default): a
    /// <see cref="MemoryDeduplicationStore"/> of <see cref="Capacity"/>, <see cref="MaxBytes"/> and <see cref="Window"/>,
    /// which the server owns. A store set here is the caller's to dispose, and may be shared by servers.
    /// </summary>
    public IDeduplicationStore? Store { get; set; }

    /// <summary>Stores chosen per service, by service name (<c>[RpcService("orders")]</c>: "orders").</summary>
    public IDictionary<string, IDeduplicationStore> Stores { get; } = new Dictionary<string, IDeduplicationStore>(StringComparer.Ordinal);

    /// <summary>
    /// Stores configuration may choose by name (<c>Deduplication:Store</c>, <c>Deduplication:Stores:&lt;service&gt;</c>),
    /// besides the built-in "memory" and "file". RpcGen.Hosting's <c>AddDeduplicationStore(name, factory)</c> adds to it.
    /// </summary>
    public IDictionary<string, IDeduplicationStore> NamedStores { get; } =
        new Dictionary<string, IDeduplicationStore>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The settings of the built-in "file" store when configuration chooses it (<c>Deduplication:File</c>).</summary>
    public FileDeduplicationStoreOptions File { get; } = new();

    /// <summary>Store names configuration chose: the default one (key "") and per service. Code's choices come first.</summary>
    internal Dictionary<string, string> StoreNames { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// How long a claim holds a call id without being renewed: the server renews its claims every third of it while
    /// their handlers run, and a claim of a server that died is taken over by a repeat once it runs out. At least one
    /// second. The default value is 10 seconds. (Stores in one process's memory do not expire claims.)
    /// </summary>
    public TimeSpan Lease
    {
        get => _lease;
        set => _lease = Checked(value, value >= TimeSpan.FromSeconds(1), nameof(Lease), "must be at least one second");
    }

    /// <summary>How often the server asks its stores to drop answers past their window. Positive. The default value is 1 minute.</summary>
    public TimeSpan SweepInterval
    {
        get => _sweepInterval;
        set => _sweepInterval = Checked(value, value > TimeSpan.Zero, nameof(SweepInterval), "must be positive");
    }

    /// <summary>
    /// How many recent call ids the in-memory store remembers, with their answers; at least 1. The default value is 10,000.
    /// </summary>
    public int Capacity
    {
        get => _capacity;
        set => _capacity = Checked(value, value >= 1, nameof(Capacity), "must be at least 1");
    }

    /// <summary>
    /// The most bytes of stored answers the in-memory store keeps; the oldest answers are dropped beyond it. 0 or more.
    /// The default value is 64 MiB.
    /// </summary>
    public long MaxBytes
    {
        get => _maxBytes;
        set => _maxBytes = Checked(value, value >= 0, nameof(MaxBytes), "must be 0 or more");
    }

    /// <summary>
    /// How long the in-memory store keeps a finished call's answer for its retries; positive. The default value is 24
    /// hours (<see cref="DefaultWindow"/>; <see cref="Capacity"/> and <see cref="MaxBytes"/> bound it first on a busy server).
    /// </summary>
    public TimeSpan Window
    {
        get => _window;
        set => _window = Checked(value, value > TimeSpan.Zero, nameof(Window), "must be positive");
    }

    private static T Checked<T>(T value, bool valid, string name, string rule) =>
        valid ? value : throw new ArgumentOutOfRangeException("value", value, $"RpcServerOptions.Deduplication.{name} {rule}.");
}

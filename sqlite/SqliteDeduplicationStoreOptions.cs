using System;
using RpcGen.Server;

namespace RpcGen.Sqlite;

/// <summary>Where a <see cref="SqliteDeduplicationStore"/> keeps its table, and its bounds.</summary>
public sealed class SqliteDeduplicationStoreOptions
{
    /// <summary>The database file (created with its directory when missing). Servers on one machine share a store by naming one file.</summary>
    public string Path { get; set; } = string.Empty;

    /// <summary>How long an answer is kept for repeats. Positive. The default value is 24 hours.</summary>
    public TimeSpan Window { get; set; } = DeduplicationOptions.DefaultWindow;

    /// <summary>
    /// The most call ids kept; when reached, the oldest answers go before their window ends (counted as evicted).
    /// At least 1. The default value is 1,000,000 (about 200 MB on disk with small answers).
    /// </summary>
    public long Capacity { get; set; } = 1_000_000;

    /// <summary>
    /// True: each write reaches the disk before it is answered (SQLite <c>synchronous=FULL</c>), so answers survive a
    /// power loss too. False (the default): they survive the process being killed, and writes cost less
    /// (<c>synchronous=NORMAL</c> in WAL mode).
    /// </summary>
    public bool FlushToDisk { get; set; }

    /// <summary>The clock of windows and leases (tests pass a fake one). The default value is the system's.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}

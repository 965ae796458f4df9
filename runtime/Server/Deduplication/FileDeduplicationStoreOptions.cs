using System;

namespace RpcGen.Server.Deduplication;

/// <summary>Where a <see cref="FileDeduplicationStore"/> keeps its journal and snapshot, and its bounds.</summary>
public sealed class FileDeduplicationStoreOptions
{
    /// <summary>The store's directory (created when missing); one server process uses it at a time.</summary>
    public string Directory { get; set; } = string.Empty;

    /// <summary>How long an answer is kept for repeats. Positive. The default value is 24 hours.</summary>
    public TimeSpan Window { get; set; } = DeduplicationOptions.DefaultWindow;

    /// <summary>The most call ids kept; when reached, the oldest answers go first. At least 1. The default value is 1,000,000.</summary>
    public int Capacity { get; set; } = 1_000_000;

    /// <summary>
    /// The most bytes of answers kept (they are held in memory too, and written to disk); the oldest go first beyond it.
    /// The default value is 256 MiB.
    /// </summary>
    public long MaxBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>
    /// True: every operation waits until its change is written and flushed to disk (fsync; operations waiting together
    /// share one), so nothing answered is lost to a crash or a power loss. False (the default): the write loop writes
    /// changes behind, a millisecond after the first of them, without an fsync: they survive the process being killed
    /// once written (one to two milliseconds), and operations cost little more than the in-memory store's.
    /// </summary>
    public bool FlushToDisk { get; set; }

    /// <summary>The clock of windows (tests pass a fake one). The default value is the system's.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}

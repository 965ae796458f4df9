using System;
using System.Threading;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace RpcGen.Server.Internal;

/// <summary>
/// Gives memory back after a storm. The garbage collector runs when a process allocates: a server that went quiet after
/// 10,000 connections or 1,000 large calls holds the heap of the storm's last collection (680 MiB of it garbage, 280 MiB
/// resident, measured by the <c>memory</c> benchmark) until something allocates again, which an idle server does not.
/// Each interval this looks at the collector: if no collection ran in the whole interval (the process is quiet, so a
/// collection costs no call anything) and the heap committed at the last one is over 64 MiB and over twice what it was
/// after the previous trim, it runs one aggressive, compacting collection, which returns the free memory to the system.
/// A busy server collects all the time and is never trimmed; an idle one is trimmed once per burst of activity.
/// </summary>
internal sealed class MemoryTrimmer : IDisposable
{
    /// <summary>Below this much committed heap a trim is not worth a full collection.</summary>
    public const long Floor = 64L * 1024 * 1024;

    private readonly object _lock = new();
    private readonly ITimer _timer;
    private readonly IGarbageCollector _collector;
    private readonly ILogger _logger;
    private int _lastCollections;
    private long _afterTrim;

    public MemoryTrimmer(TimeProvider time, TimeSpan interval, ILogger? logger = null, IGarbageCollector? collector = null)
    {
        _collector = collector ?? RuntimeCollector.Instance;
        _logger = logger ?? NullLogger.Instance;
        _lastCollections = _collector.Collections;
        _afterTrim = _collector.CommittedBytes;
        _timer = time.CreateTimer(static s => ((MemoryTrimmer)s!).Tick(), this, interval, interval);
    }

    /// <summary>Trims run so far.</summary>
    public int Trims { get; private set; }

    /// <summary>One interval's look (the timer's callback; a slow collection must not let the next tick overlap it).</summary>
    internal void Tick()
    {
        lock (_lock)
        {
            int collections = _collector.Collections;
            if (collections != _lastCollections)
            {
                _lastCollections = collections; // the process allocated: wait for an interval without a collection
                return;
            }

            long committed = _collector.CommittedBytes;
            if (committed <= Floor || committed <= 2 * _afterTrim)
            {
                return;
            }

            _collector.Collect();
            _lastCollections = _collector.Collections; // its own collection is not activity
            _afterTrim = _collector.CommittedBytes;
            Trims++;
            Telemetry.RpcGenLog.MemoryTrimmed(_logger, committed / (1024 * 1024), _afterTrim / (1024 * 1024));
        }
    }

    public void Dispose() => _timer.Dispose();

    /// <summary>What the trimmer reads of the garbage collector and asks of it (a fake one in tests).</summary>
    internal interface IGarbageCollector
    {
        /// <summary>Collections so far (every generation's count the youngest's).</summary>
        int Collections { get; }

        /// <summary>The heap committed at the last collection.</summary>
        long CommittedBytes { get; }

        /// <summary>A blocking, compacting, aggressive collection (it decommits what is free).</summary>
        void Collect();
    }

    private sealed class RuntimeCollector : IGarbageCollector
    {
        public static readonly RuntimeCollector Instance = new();

        public int Collections => GC.CollectionCount(0);

        public long CommittedBytes => GC.GetGCMemoryInfo().TotalCommittedBytes;

        public void Collect() => GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }
}

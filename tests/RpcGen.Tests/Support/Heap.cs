using System.Runtime;

namespace RpcGen.Tests.Support;

/// <summary>The managed heap as a memory test measures it: after forced, compacting collections (LOH included).</summary>
public static class Heap
{
    public static long Compacted()
    {
        for (int i = 0; i < 3; i++)
        {
            GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>The heap committed once everything free is given back (an aggressive, compacting collection).</summary>
    public static long Committed()
    {
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return GC.GetGCMemoryInfo().TotalCommittedBytes;
    }
}

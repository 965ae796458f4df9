using System.Diagnostics;
using RpcGen.Server.Deduplication;
using RpcGen.Sqlite;

namespace RpcGen.Benchmarks;

/// <summary>
/// How much disk a store takes for N answered calls with small answers (the bound: 1,000,000 entries within
/// 512 MiB), and how fast it fills: 256 claims and answers in flight at a time, as a busy server has.
/// </summary>
internal static class DedupSize
{
    public static async Task<int> RunAsync(string[] args)
    {
        int entries = args.Length > 1 && args[0] == "--entries" ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000;
        string directory = Directory.CreateTempSubdirectory("rpcgen-dedup-size-").FullName;
        try
        {
            string file = Path.Combine(directory, "file"), sqlite = Path.Combine(directory, "sqlite");
            await FillAsync("file", entries, new FileDeduplicationStore(new FileDeduplicationStoreOptions { Directory = file }), file);
            var options = new SqliteDeduplicationStoreOptions { Path = Path.Combine(sqlite, "dedup.db") };
            await FillAsync("sqlite", entries, new SqliteDeduplicationStore(options), sqlite);
            return 0;
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task FillAsync(string name, int entries, IDeduplicationStore store, string directory)
    {
        var answer = new DeduplicationRecord(RpcStatusCode.OK, null, null, "12345"u8.ToArray(), Array.Empty<byte>());
        var watch = Stopwatch.StartNew();
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
        DeduplicationStoreStatus status;
        await using (store)
        {
            int next = 0;
            await Task.WhenAll(Enumerable.Range(0, 256).Select(_ => Task.Run(async () =>
            {
                for (int i = Interlocked.Increment(ref next); i <= entries; i = Interlocked.Increment(ref next))
                {
                    Guid id = RpcGen.Resilience.Internal.CallIds.Next(); // as clients make them
                    var key = new DeduplicationKey(id, "bench-dedup/Add", (UInt128)i);
                    DeduplicationClaim claim = await store.ClaimAsync(key, TimeSpan.FromSeconds(10));
                    await store.CompleteAsync(key.CallId, claim.Token, answer);
                }
            })));
            status = await store.GetStatusAsync();
            watch.Stop();
            cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        }

        // Measured once the store is closed: everything it wrote is in its files.
        long disk = Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Console.WriteLine($"{name}: {status.Entries:N0} entries, {disk / 1024.0 / 1024.0:0.0} MiB on disk " +
            $"({(double)disk / Math.Max(1, status.Entries):0} bytes each), filled in {watch.Elapsed.TotalSeconds:0.0} s " +
            $"({entries / watch.Elapsed.TotalSeconds:N0} claims+answers/s, {cpu.TotalMicroseconds / entries:0.0} µs of CPU each), " +
            $"process working set {Environment.WorkingSet / 1024 / 1024} MiB");
    }
}

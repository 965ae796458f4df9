using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using RpcGen.Tests.Support;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace RpcGen.Tests.Deduplication;

public sealed record Receipt(string Order, long Amount, string Server);

/// <summary>The sample's payments service (sample/RpcGen.Sample/Payments/Payments.cs), as its clients see it.</summary>
[RpcService("payments"), Timeout(30_000)]
public interface IPayments
{
    [Deduplicate, Retry(MaxAttempts = 40, InitialBackoffMs = 20, MaxBackoffMs = 500, PerAttemptTimeoutMs = 4000)]
    Task<Receipt> ChargeAsync(string order, long amount, CancellationToken cancellationToken = default);
}

/// <summary>
/// At most once against real server processes killed with SIGKILL: three payments servers share one store (a SQLite
/// file, or a Redis), 64 callers charge distinct orders through proxies that reset every connection now and then, and
/// a server is killed and restarted every few seconds. Each charge is written in the same transaction as its answer,
/// so the store's own tables are the ledger: every call the callers made succeeded, and each order was charged once.
/// RPCGEN_CHAOS_SECONDS sets the run's length (20 s by default, for CI; docs/resilience.md gives a 60 s run).
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class DeduplicationChaosTests
{
    private readonly ITestOutputHelper _output;

    public DeduplicationChaosTests(ITestOutputHelper output) => _output = output;

    private static int Seconds => int.TryParse(Environment.GetEnvironmentVariable("RPCGEN_CHAOS_SECONDS"), out int s) ? s : 20;

    [Fact]
    public async Task ThreeServersOnOneSqliteFile_KilledAndRestarted_EveryOrderChargedOnce()
    {
        string directory = Directory.CreateTempSubdirectory("rpcgen-chaos-sqlite-").FullName;
        string database = Path.Combine(directory, "payments.db");
        try
        {
            await RunAsync("sqlite", database, () =>
            {
                using var connection = new SqliteConnection($"Data Source={database}");
                connection.Open();
                using SqliteCommand query = connection.CreateCommand();
                query.CommandText = "SELECT order_id, COUNT(*) FROM charges GROUP BY order_id";
                var charges = new Dictionary<string, long>();
                using SqliteDataReader reader = query.ExecuteReader();
                while (reader.Read())
                {
                    charges[reader.GetString(0)] = reader.GetInt64(1);
                }

                return Task.FromResult(charges);
            });
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task ThreeServersOnOneRedis_KilledAndRestarted_EveryOrderChargedOnce()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await RunAsync("redis", redis.Configuration, async () =>
        {
            await using ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
            HashEntry[] entries = await connection.GetDatabase().HashGetAllAsync("payments:charges");
            return entries.ToDictionary(e => (string)e.Name!, e => (long)e.Value);
        });
    }

    private async Task RunAsync(string kind, string where, Func<Task<Dictionary<string, long>>> readLedger)
    {
        string sample = Path.Combine(TestPaths.RepositoryRoot, "sample", "RpcGen.Sample", "bin", "Release", "net10.0", "RpcGen.Sample.dll");
        Assert.True(File.Exists(sample), $"{sample} is missing: build the solution in Release first.");
        int[] ports = { FreePort(), FreePort(), FreePort() };
        var processes = new Process?[ports.Length];
        var proxies = new List<FaultProxy>();
        try
        {
            for (int i = 0; i < ports.Length; i++)
            {
                processes[i] = await StartAsync(sample, ports[i], kind, where);
                proxies.Add(FaultProxy.Start(new RpcEndpoint("127.0.0.1", ports[i])));
            }

            var options = new RpcClientOptions();
            options.Resilience.RetryBudget.MinRetriesPerSecond = 100_000; // the test counts lost calls: the budget must not make them
            foreach (FaultProxy proxy in proxies)
            {
                options.Endpoints.Add(proxy.Endpoint);
            }

            await using var client = new RpcClient(options);
            IPayments payments = client.CreateProxy<IPayments>();
            using var stop = new CancellationTokenSource();
            var made = new ConcurrentBag<string>();
            var failed = new ConcurrentBag<string>();
            Task[] callers = Enumerable.Range(0, 64).Select(c => Task.Run(async () =>
            {
                for (int n = 0; !stop.IsCancellationRequested; n++)
                {
                    string order = $"c{c}-{n}";
                    made.Add(order);
                    try
                    {
                        Receipt receipt = await payments.ChargeAsync(order, n + 1);
                        Assert.Equal((order, (long)n + 1), (receipt.Order, receipt.Amount));
                    }
                    catch (RpcException ex)
                    {
                        failed.Add($"{order}: {ex.StatusCode} {ex.Message}");
                    }
                }
            })).ToArray();

            var random = new Random(20261207);
            var watch = Stopwatch.StartNew();
            int kills = 0, resets = 0;
            TimeSpan every = TimeSpan.FromSeconds(Seconds >= 60 ? 5 : 2.5);
            while (watch.Elapsed < TimeSpan.FromSeconds(Seconds))
            {
                // Connections reset under the calls several times a second, on a proxy at random.
                for (int i = 0; i < 5; i++)
                {
                    await Task.Delay(every / 5);
                    proxies[random.Next(proxies.Count)].ResetAll();
                    resets++;
                }

                int victim = random.Next(ports.Length);
                processes[victim]!.Kill(); // SIGKILL: no drain, its claims held until their lease runs out
                await processes[victim]!.WaitForExitAsync();
                processes[victim]!.Dispose();
                kills++;
                await Task.Delay(250);
                processes[victim] = await StartAsync(sample, ports[victim], kind, where);
            }

            stop.Cancel();
            await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(60));
            Dictionary<string, long> ledger = await readLedger();
            string[] doubled = ledger.Where(e => e.Value > 1).Select(e => $"{e.Key}×{e.Value}").ToArray();
            string[] lost = made.Where(o => !ledger.ContainsKey(o)).ToArray();
            _output.WriteLine(
                $"{kind}: {made.Count} calls by 64 callers in {watch.Elapsed.TotalSeconds:0} s, {kills} kills, {resets} proxy resets " +
                $"({proxies.Sum(p => p.Resets)} connections reset); charged {ledger.Count}, doubled {doubled.Length}, lost {lost.Length}, " +
                $"failed {failed.Count}");
            Assert.Empty(failed);
            Assert.Empty(doubled);
            Assert.Empty(lost);
            Assert.Equal(made.Count, ledger.Count);
            Assert.True(kills >= 3 && made.Count > 1000, $"{kills} kills, {made.Count} calls: the run proved little");
        }
        finally
        {
            foreach (Process? process in processes)
            {
                if (process is { HasExited: false })
                {
                    process.Kill();
                }

                process?.Dispose();
            }

            foreach (FaultProxy proxy in proxies)
            {
                await proxy.DisposeAsync();
            }
        }
    }

    private static async Task<Process> StartAsync(string sample, int port, string kind, string where)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in new[] { sample, "serve-payments", port.ToString(System.Globalization.CultureInfo.InvariantCulture), kind, where })
        {
            start.ArgumentList.Add(argument);
        }

        Process process = Process.Start(start)!;
        string? line = await process.StandardOutput.ReadLineAsync().WaitAsync(Wait.NoHang);
        Assert.Equal($"ready {port}", line);
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginErrorReadLine();
        return process;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

// Scenario "resilience": three inventory servers; inv-2 fails every call with Unavailable, inv-3 quotes slowly (500 ms).
// [Idempotent, Retry] calls move to another server, a non-idempotent call is not repeated, [Hedging] cuts the tail.
using System.Diagnostics;
using RpcGen;
using RpcGen.Client;
using RpcGen.Server;

namespace Sample.Resilience;

public static class ResilienceScenario
{
    /// <summary>Runs the scenario on loopback; true when everything behaved as documented.</summary>
    public static async Task<bool> RunAsync()
    {
        Console.WriteLine();
        Console.WriteLine("Resilience: inv-2 fails every call, inv-3 answers quotes in 500 ms");
        var inventories = new List<Inventory>();
        var inventoryServers = new List<RpcServer>();
        foreach ((string name, bool broken, int quoteDelay) in new[] { ("inv-1", false, 0), ("inv-2", true, 0), ("inv-3", false, 500) })
        {
            var inventory = new Inventory(name, broken, quoteDelay);
            var server = new RpcServer();
            server.Map<IInventory>(inventory);
            await server.StartAsync();
            inventories.Add(inventory);
            inventoryServers.Add(server);
        }

        var inventoryOptions = new RpcClientOptions();
        foreach (RpcServer server in inventoryServers)
        {
            inventoryOptions.Endpoints.Add(server.Endpoints[0]);
        }

        inventoryOptions.Balancing.OutlierDetection.Enabled = false; // show the retries, not ejection
        await using var inventoryClient = new RpcClient(inventoryOptions);
        IInventory stock = inventoryClient.CreateProxy<IInventory>();

        int got = 0;
        for (int i = 0; i < 30; i++)
        {
            await stock.GetAsync($"sku-{i}");
            got++;
        }

        Console.WriteLine($"  GetAsync ([Idempotent, Retry]): {got} of 30 succeeded; inv-2 ran {inventories[1].Gets} of them and failed, " +
            "each retried on another server");

        int reserved = 0, refused = 0;
        for (int i = 0; i < 6; i++)
        {
            try
            {
                await stock.ReserveAsync($"sku-{i}");
                reserved++;
            }
            catch (RpcException ex) when (ex.StatusCode == RpcStatusCode.Unavailable)
            {
                refused++;
            }
        }

        int reserveRuns = inventories.Sum(i => i.Reserves);
        Console.WriteLine($"  ReserveAsync (not idempotent): {reserved} reserved, {refused} failed and were not repeated " +
            $"({reserveRuns} handler runs for 6 calls)");

        for (int i = 0; i < 3; i++)
        {
            await stock.QuoteAsync("warm-up"); // one reaches inv-3: the hedging path is compiled before it is measured
        }

        var quoteLatencies = new List<double>();
        int slowAnswers = 0;
        for (int i = 0; i < 20; i++)
        {
            long start = Stopwatch.GetTimestamp();
            string quote = await stock.QuoteAsync($"sku-{i}");
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            quoteLatencies.Add(ms);
            if (quote.StartsWith("inv-3", StringComparison.Ordinal))
            {
                slowAnswers++; // the 500 ms server answered: the hedge to a fast server, sent after 20 ms, did not win
            }
        }

        Console.WriteLine($"  QuoteAsync ([Hedging(MaxAttempts = 3, DelayMs = 20)]): {20 - slowAnswers} of 20 answered by a fast server; " +
            $"slowest call {quoteLatencies.Max():0} ms although inv-3 takes 500 ms");
        foreach (RpcServer server in inventoryServers)
        {
            await server.DisposeAsync();
        }

        // Judged by who answered, not by wall-clock time, so a slow or busy machine does not fail the check.
        bool resilient = got == 30 && reserveRuns == 6 && slowAnswers == 0;
        Console.WriteLine(resilient ? "Retries, idempotency and hedging behaved as documented." : "Resilience did not behave as documented!");
        return resilient;
    }
}

[RpcService("inventory"), Timeout(2000), Retry(MaxAttempts = 3, InitialBackoffMs = 10, MaxBackoffMs = 100)]
public interface IInventory
{
    [Idempotent]
    Task<string> GetAsync(string sku, CancellationToken cancellationToken = default);

    [Retry(MaxAttempts = 1)] // not idempotent: fail fast rather than reserve twice
    Task<string> ReserveAsync(string sku, CancellationToken cancellationToken = default);

    [Idempotent, Hedging(MaxAttempts = 3, DelayMs = 20)]
    Task<string> QuoteAsync(string sku, CancellationToken cancellationToken = default);
}

public sealed class Inventory(string name, bool broken, int quoteDelayMs) : IInventory
{
    public int Gets;
    public int Reserves;

    public Task<string> GetAsync(string sku, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Gets);
        return broken ? throw new RpcException(RpcStatusCode.Unavailable, $"{name} is broken") : Task.FromResult($"{name}:{sku}");
    }

    public Task<string> ReserveAsync(string sku, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Reserves);
        return broken ? throw new RpcException(RpcStatusCode.Unavailable, $"{name} is broken") : Task.FromResult($"{name}:reserved:{sku}");
    }

    public async Task<string> QuoteAsync(string sku, CancellationToken cancellationToken = default)
    {
        if (broken)
        {
            throw new RpcException(RpcStatusCode.Unavailable, $"{name} is broken");
        }

        await Task.Delay(quoteDelayMs, cancellationToken);
        return $"{name}:quote:{sku}";
    }
}

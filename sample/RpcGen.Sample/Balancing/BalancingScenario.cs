// Scenario "balancing": five strategies side by side, 1,000 calls from 16 callers over three servers, one of them slow;
// the strategy is chosen per client in options, overriding the interface's [LoadBalance] without recompiling.
using System.Diagnostics;
using RpcGen;
using RpcGen.Client;
using RpcGen.Server;

namespace Sample.Balancing;

public static class BalancingScenario
{
    /// <summary>Runs the scenario on loopback; true when everything behaved as documented.</summary>
    public static async Task<bool> RunAsync()
    {
        Console.WriteLine();
        Console.WriteLine("Load balancing: 1,000 calls, 16 callers, servers take 1 ms, 1 ms and 25 ms");
        var workServers = new List<RpcServer>();
        foreach ((string name, int delay) in new[] { ("fast-1", 1), ("fast-2", 1), ("slow", 25) })
        {
            var server = new RpcServer();
            server.Map<IWork>(new Work(name, delay));
            await server.StartAsync();
            workServers.Add(server);
        }

        Console.WriteLine($"{"strategy",-18} {"fast-1",7} {"fast-2",7} {"slow",7} {"p50 ms",8} {"p99 ms",8}");
        bool slowAvoided = true;
        foreach (LoadBalanceStrategy strategy in new[]
        {
            LoadBalanceStrategy.RoundRobin, LoadBalanceStrategy.Random, LoadBalanceStrategy.LeastOutstanding,
            LoadBalanceStrategy.PowerOfTwoChoices, LoadBalanceStrategy.PeakEwma,
        })
        {
            var workOptions = new RpcClientOptions();
            foreach (RpcServer server in workServers)
            {
                workOptions.Endpoints.Add(server.Endpoints[0]);
            }

            workOptions.Balancing.Strategies["work"] = strategy; // overrides the interface's attribute, no recompiling
            await using var workClient = new RpcClient(workOptions);
            IWork work = workClient.CreateProxy<IWork>();
            var perServer = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
            var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
            int taken = 0;
            await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
            {
                while (Interlocked.Increment(ref taken) <= 1000)
                {
                    long start = Stopwatch.GetTimestamp();
                    string server = await work.DoAsync();
                    latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    perServer.AddOrUpdate(server, 1, static (_, n) => n + 1);
                }
            })));

            double[] sorted = latencies.Order().ToArray();
            int fast1 = perServer.GetValueOrDefault("fast-1"), fast2 = perServer.GetValueOrDefault("fast-2"), slow = perServer.GetValueOrDefault("slow");
            Console.WriteLine($"{strategy,-18} {fast1,7} {fast2,7} {slow,7} {sorted[sorted.Length / 2],8:0.0} {sorted[(int)(sorted.Length * 0.99)],8:0.0}");
            if (strategy is LoadBalanceStrategy.LeastOutstanding or LoadBalanceStrategy.PowerOfTwoChoices or LoadBalanceStrategy.PeakEwma)
            {
                slowAvoided &= perServer.GetValueOrDefault("slow") < 1000 / 6;
            }
        }

        foreach (RpcServer server in workServers)
        {
            await server.DisposeAsync();
        }

        Console.WriteLine(slowAvoided
            ? "Load-aware strategies kept most calls off the slow server."
            : "A load-aware strategy did not avoid the slow server!");
        return slowAvoided;
    }
}

[RpcService("work"), LoadBalance(LoadBalanceStrategy.PowerOfTwoChoices)]
public interface IWork
{
    Task<string> DoAsync(CancellationToken cancellationToken = default);
}

public sealed class Work(string name, int delayMs) : IWork
{
    public async Task<string> DoAsync(CancellationToken cancellationToken = default)
    {
        await Task.Delay(delayMs, cancellationToken);
        return name;
    }
}

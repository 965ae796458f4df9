// RpcGen sample: three servers on loopback, one client spreading calls over them.
using System.Diagnostics;
using RpcGen;
using Sample;

const int ServerCount = 3;
const int Calls = 30;

var servers = new List<RpcServer>();
for (int i = 0; i < ServerCount; i++)
{
    var server = new RpcServer(new RpcServerOptions()); // 127.0.0.1, port 0 = any free port
    server.Map<ICalculator>(new Calculator($"server-{i + 1}"));
    await server.StartAsync();
    servers.Add(server);
    Console.WriteLine($"server-{i + 1} listening on {server.Endpoints[0]}");
}

var options = new RpcClientOptions();
foreach (RpcServer server in servers)
{
    options.Endpoints.Add(server.Endpoints[0]);
}

await using var client = new RpcClient(options);
ICalculator calc = client.CreateProxy<ICalculator>();

var answeredBy = new Dictionary<string, int>();
var stopwatch = Stopwatch.StartNew();
for (int i = 0; i < Calls; i++)
{
    CalcResult result = await calc.AddAsync(i, i * 10);
    answeredBy[result.Server] = answeredBy.GetValueOrDefault(result.Server) + 1;
    Console.WriteLine($"AddAsync({i}, {i * 10}) = {result.Sum,4}   answered by {result.Server}");
}

long product = await calc.MultiplyAsync(6, 7);
Console.WriteLine($"MultiplyAsync(6, 7) = {product}");

try
{
    await calc.DivideAsync(1, 0);
}
catch (RpcException ex)
{
    Console.WriteLine($"DivideAsync(1, 0) failed as expected: {ex.StatusCode}: {ex.Message}");
}

stopwatch.Stop();
Console.WriteLine();
Console.WriteLine($"Summary: {Calls} calls in {stopwatch.Elapsed.TotalMilliseconds:0} ms");
foreach ((string server, int count) in answeredBy.OrderBy(p => p.Key, StringComparer.Ordinal))
{
    Console.WriteLine($"  {server}: {count} calls");
}

foreach (RpcServer server in servers)
{
    await server.StopAsync();
}

bool spread = answeredBy.Count == ServerCount;
Console.WriteLine(spread ? "Every server answered." : "Not every server answered!");

// Strategies side by side: 1,000 calls from 16 concurrent callers over three servers, one of them slow.
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

    workOptions.LoadBalancing["work"] = strategy; // overrides the interface's attribute, no recompiling
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
    Console.WriteLine($"{strategy,-18} {perServer.GetValueOrDefault("fast-1"),7} {perServer.GetValueOrDefault("fast-2"),7} {perServer.GetValueOrDefault("slow"),7} {sorted[sorted.Length / 2],8:0.0} {sorted[(int)(sorted.Length * 0.99)],8:0.0}");
    if (strategy is LoadBalanceStrategy.LeastOutstanding or LoadBalanceStrategy.PowerOfTwoChoices or LoadBalanceStrategy.PeakEwma)
    {
        slowAvoided &= perServer.GetValueOrDefault("slow") < 1000 / 6;
    }
}

foreach (RpcServer server in workServers)
{
    await server.DisposeAsync();
}

Console.WriteLine(slowAvoided ? "Load-aware strategies kept most calls off the slow server." : "A load-aware strategy did not avoid the slow server!");
return spread && slowAvoided ? 0 : 1;

namespace Sample
{
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

    public sealed record CalcResult(int Sum, string Server);

    [RpcService("calc")]
    [Timeout(2000)]
    public interface ICalculator
    {
        Task<CalcResult> AddAsync(int a, int b, CancellationToken cancellationToken = default);

        [RpcMethod("mul")]
        Task<long> MultiplyAsync(long a, long b);

        Task<int> DivideAsync(int a, int b);
    }

    public sealed class Calculator(string name) : ICalculator
    {
        public Task<CalcResult> AddAsync(int a, int b, CancellationToken cancellationToken = default) =>
            Task.FromResult(new CalcResult(a + b, name));

        public Task<long> MultiplyAsync(long a, long b) => Task.FromResult(a * b);

        public Task<int> DivideAsync(int a, int b) =>
            b == 0
                ? throw new RpcException(RpcStatusCode.InvalidArgument, "Cannot divide by zero.")
                : Task.FromResult(a / b);
    }
}

// Scenario "basics": three servers on loopback, one client spreading 30 calls over them, a call by its wire name and
// an error that crosses the wire as an RpcException.
using System.Diagnostics;
using RpcGen;
using RpcGen.Client;
using RpcGen.Server;

namespace Sample.Basics;

public static class BasicsScenario
{
    /// <summary>Runs the scenario on loopback; true when everything behaved as documented.</summary>
    public static async Task<bool> RunAsync()
    {
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
        return spread;
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

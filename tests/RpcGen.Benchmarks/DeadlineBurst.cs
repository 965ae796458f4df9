using System.Diagnostics;
using System.Globalization;

namespace RpcGen.Benchmarks;

/// <summary>
/// N calls at once, each with a 50 ms deadline, to a handler that sleeps a second: client and server in this process
/// over loopback TCP. Prints when each call ended (all should end with DeadlineExceeded) as percentiles of the time from
/// the call to its exception.
/// </summary>
public static class DeadlineBurst
{
    public static async Task<int> RunAsync(string[] args)
    {
        int calls = Arg(args, "--calls", 5000);
        int reps = Arg(args, "--reps", 3);
        int perConnection = Arg(args, "--per-connection", 100);
        await using var server = new RpcServer(new RpcServerOptions { Limits = { MaxConcurrentCallsPerConnection = perConnection } });
        server.Map<ISleepBench>(new SleepBench());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        ISleepBench proxy = client.CreateProxy<ISleepBench>();
        try
        {
            await proxy.SleepAsync(0);
        }
        catch (RpcException)
        {
            // Warm-up only.
        }

        Console.WriteLine($"{calls} calls at once, [Timeout(50)], handler sleeps 1 s, MaxConcurrentCallsPerConnection {perConnection}, {Environment.ProcessorCount} cores");
        for (int rep = 0; rep < reps; rep++)
        {
            var ended = new double[calls];
            var own = new double[calls];
            int deadlineExceeded = 0, other = 0;
            var tasks = new Task[calls];
            TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var others = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < calls; i++)
            {
                int index = i;
                tasks[i] = Task.Run(async () =>
                {
                    long callStart = Stopwatch.GetTimestamp();
                    try
                    {
                        await proxy.SleepAsync(1000);
                        Interlocked.Increment(ref other);
                    }
                    catch (RpcException ex) when (ex.StatusCode == RpcStatusCode.DeadlineExceeded)
                    {
                        Interlocked.Increment(ref deadlineExceeded);
                    }
                    catch (Exception ex)
                    {
                        Interlocked.Increment(ref other);
                        others.AddOrUpdate(ex is RpcException rpc ? rpc.StatusCode + ": " + rpc.Message : ex.GetType().Name, 1, static (_, n) => n + 1);
                    }

                    ended[index] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    own[index] = Stopwatch.GetElapsedTime(callStart).TotalMilliseconds;
                });
            }

            await Task.WhenAll(tasks);
            double cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds;
            Array.Sort(ended);
            Array.Sort(own);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"rep {rep + 1}: DeadlineExceeded {deadlineExceeded}, other {other}; from the burst's start p50 {ended[calls / 2]:0} ms, p99 {ended[calls * 99 / 100]:0} ms, max {ended[^1]:0} ms; " +
                $"from each call's start p50 {own[calls / 2]:0} ms, p90 {own[calls * 9 / 10]:0} ms, p99 {own[calls * 99 / 100]:0} ms, max {own[^1]:0} ms; " +
                $"CPU {cpuMs:0} ms ({cpuMs * 1000 / calls:0} µs a call)"));
            foreach ((string what, int count) in others)
            {
                Console.WriteLine($"  other: {count} × {what}");
            }
            await Task.Delay(1500); // let the server's handlers and cancel frames settle
        }

        return 0;
    }

    /// <summary>The integer after <paramref name="name"/> in a runner's arguments, or <paramref name="fallback"/>.</summary>
    internal static int Arg(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }
}

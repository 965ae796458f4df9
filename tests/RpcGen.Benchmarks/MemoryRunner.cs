using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace RpcGen.Benchmarks;

/// <summary>
/// Whether a server's memory returns after a storm: a server process with the defaults (one RpcServer, nothing else),
/// its resident memory read from /proc before, at the peak and every second for a minute after each storm: 10,000
/// connections opened at once and closed, then 1,000 concurrent calls of 300 KB each way.
/// </summary>
internal static class MemoryRunner
{
    public static async Task<int> RunAsync(string[] args)
    {
        int connections = DeadlineBurst.Arg(args, "--connections", 10_000);
        int calls = DeadlineBurst.Arg(args, "--calls", 1_000);
        int seconds = DeadlineBurst.Arg(args, "--seconds", 60);
        bool trim = !args.Contains("--no-trim"); // --no-trim: the server as it was before MemoryTrimInterval, for the comparison
        bool grpc = args.Contains("--grpc"); // --grpc: the same storms against gRPC-dotnet on Kestrel, the baseline
        using Process server = StartServer(grpc ? "--grpc" : trim ? null : "--no-trim", out int port);
        try
        {
            await Task.Delay(2000);
            long rest = Rss(server);
            long start = rest;
            string what = grpc ? ", gRPC-dotnet on Kestrel" : trim ? "" : ", MemoryTrimInterval off";
            Console.WriteLine($"server process {server.Id}: {Mib(rest)} at rest{what}");
            Console.WriteLine("| storm | before | peak | after 0 s | 10 s | 30 s | 60 s | back within 2× of the first rest |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");

            long peak = await ConnectionStormAsync(server, port, connections, grpc ? s_http2Preface : s_rpcGenPreface);
            Report($"{connections:N0} connections opened at once, then closed", rest, start, peak, await FollowAsync(server, seconds));
            if (args.Contains("--explain"))
            {
                Console.WriteLine(Ask(server, "stats"));
                Console.WriteLine(Ask(server, "collect") + $", then {Mib(Rss(server))} resident");
            }

            start = Rss(server);
            peak = grpc ? await GrpcCallStormAsync(server, port, calls) : await CallStormAsync(server, port, calls);
            Report($"{calls:N0} concurrent calls of 300 KB each way", rest, start, peak, await FollowAsync(server, seconds));
            return 0;
        }
        finally
        {
            LoadRunner.StopServer(server);
        }
    }

    /// <summary>Runs as the server process: one RpcServer with the defaults; prints its port.</summary>
    public static async Task<int> ServeAsync(string[] args)
    {
        if (args.Contains("--grpc"))
        {
            (Microsoft.AspNetCore.Builder.WebApplication app, int grpcPort) = await GrpcCandidate.StartServerAsync();
            Console.WriteLine($"PORT {grpcPort}");
            await Console.In.ReadToEndAsync();
            await app.StopAsync();
            return 0;
        }

        var options = new RpcServerOptions();
        if (args.Contains("--no-trim"))
        {
            options.Limits.MemoryTrimInterval = Timeout.InfiniteTimeSpan;
        }

        await using var server = new RpcServer(options);
        server.Map<IPayloadBench>(new PayloadBench());
        await server.StartAsync();
        Console.WriteLine($"PORT {server.Endpoints[0].Port}");
        while (await Console.In.ReadLineAsync() is { } command)
        {
            if (command == "collect")
            {
                GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            }

            GCMemoryInfo info = GC.GetGCMemoryInfo();
            Console.WriteLine($"STATS heap {Mib(info.HeapSizeBytes)}, committed {Mib(info.TotalCommittedBytes)}, " +
                $"fragmented {Mib(info.FragmentedBytes)}, connections {server.ConnectionCount}");
        }

        return 0;
    }

    private static readonly byte[] s_rpcGenPreface = [(byte)'R', (byte)'P', (byte)'C', (byte)'G', 1, 1, 0, 0];

    /// <summary>HTTP/2's client preface and an empty SETTINGS frame; Kestrel answers with its SETTINGS (9 bytes or more).</summary>
    private static readonly byte[] s_http2Preface = [.. "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8, 0, 0, 0, 4, 0, 0, 0, 0, 0];

    /// <summary>Connections opened at once, each sending its preface and reading the server's first 8 bytes; then all closed.</summary>
    private static async Task<long> ConnectionStormAsync(Process server, int port, int count, byte[] preface)
    {
        var sockets = new Socket[count];
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 256 }, async (i, ct) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync("127.0.0.1", port, ct);
            await socket.SendAsync(preface, SocketFlags.None, ct);
            byte[] answer = new byte[8];
            int read = 0;
            while (read < answer.Length)
            {
                int n = await socket.ReceiveAsync(answer.AsMemory(read), SocketFlags.None, ct);
                if (n == 0)
                {
                    throw new InvalidOperationException("The server closed a connection of the storm.");
                }

                read += n;
            }

            sockets[i] = socket;
        });

        long peak = Rss(server);
        foreach (Socket socket in sockets)
        {
            socket.Dispose();
        }

        return peak;
    }

    private static async Task<long> CallStormAsync(Process server, int port, int count)
    {
        long peak = 0;
        await using (var client = new RpcClient(new RpcClientOptions { Endpoints = { new RpcEndpoint("127.0.0.1", port) } }))
        {
            IPayloadBench bench = client.CreateProxy<IPayloadBench>();
            byte[] payload = new byte[300 * 1024];
            Random.Shared.NextBytes(payload);
            using var sampler = new CancellationTokenSource();
            Task sampling = Task.Run(async () =>
            {
                while (!sampler.IsCancellationRequested)
                {
                    peak = Math.Max(peak, Rss(server));
                    await Task.Delay(50);
                }
            });
            await Task.WhenAll(Enumerable.Range(0, count).Select(_ => bench.EchoBytesAsync(payload)));
            await sampler.CancelAsync();
            await sampling;
        }

        return Math.Max(peak, Rss(server));
    }

    private static async Task<long> GrpcCallStormAsync(Process server, int port, int count)
    {
        long peak = 0;
        using (global::Grpc.Net.Client.GrpcChannel channel = GrpcCandidate.CreateChannel(port))
        {
            var bench = new Grpc.GrpcPayloadBench.GrpcPayloadBenchClient(channel);
            byte[] payload = new byte[300 * 1024];
            Random.Shared.NextBytes(payload);
            var blob = new Grpc.Blob { Data = Google.Protobuf.ByteString.CopyFrom(payload) };
            using var sampler = new CancellationTokenSource();
            Task sampling = Task.Run(async () =>
            {
                while (!sampler.IsCancellationRequested)
                {
                    peak = Math.Max(peak, Rss(server));
                    await Task.Delay(50);
                }
            });
            await Task.WhenAll(Enumerable.Range(0, count).Select(_ => bench.EchoBytesAsync(blob).ResponseAsync));
            await sampler.CancelAsync();
            await sampling;
        }

        return Math.Max(peak, Rss(server));
    }

    /// <summary>Resident memory every second for <paramref name="seconds"/> after a storm.</summary>
    private static async Task<long[]> FollowAsync(Process server, int seconds)
    {
        var samples = new long[seconds + 1];
        for (int s = 0; s <= seconds; s++)
        {
            samples[s] = Rss(server);
            if (s < seconds)
            {
                await Task.Delay(1000);
            }
        }

        return samples;
    }

    /// <summary>One storm's row; "back" is measured against <paramref name="rest"/>, the process before any storm.</summary>
    private static void Report(string storm, long rest, long start, long peak, long[] after)
    {
        int last = after.Length - 1;
        string At(int s) => Mib(after[Math.Min(s, last)]);
        int back = Array.FindIndex(after, rss => rss <= 2 * rest);
        Console.WriteLine($"| {storm} | {Mib(start)} | {Mib(peak)} | {At(0)} | {At(10)} | {At(30)} | {At(last)} | " +
            (back < 0 ? $"not within {last} s" : $"{back} s") + " |");
    }

    private static string Ask(Process server, string command)
    {
        server.StandardInput.WriteLine(command);
        return server.StandardOutput.ReadLine() ?? "(no answer)";
    }

    private static string Mib(long bytes) => (bytes / 1024.0 / 1024.0).ToString("N0", CultureInfo.InvariantCulture) + " MiB";

    /// <summary>The process's resident set (VmRSS) in bytes.</summary>
    private static long Rss(Process process)
    {
        foreach (string line in File.ReadLines($"/proc/{process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException("No VmRSS in /proc status.");
    }

    private static Process StartServer(string? flag, out int port)
    {
        string self = Environment.ProcessPath!;
        var start = new ProcessStartInfo { FileName = self, RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(MemoryRunner).Assembly.Location);
        }

        start.ArgumentList.Add("memory-serve");
        if (flag is not null)
        {
            start.ArgumentList.Add(flag);
        }

        Process process = Process.Start(start)!;
        string line = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("The server process did not start.");
        port = int.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture);
        return process;
    }
}

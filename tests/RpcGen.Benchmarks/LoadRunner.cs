using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace RpcGen.Benchmarks;

/// <summary>
/// Closed-loop load: N callers each make one call at a time for a fixed window after a warm-up; servers run in a
/// separate process on loopback. Systems and concurrency levels are interleaved and repeated; the report gives medians.
/// </summary>
internal static class LoadRunner
{
    private static readonly long s_longestCall = Stopwatch.Frequency * 3600; // a histogram's range: up to an hour

    public static async Task<int> RunAsync(string[] args)
    {
        double warmup = Option(args, "--warmup", 1.0);
        double seconds = Option(args, "--seconds", 3.0);
        int repetitions = (int)Option(args, "--reps", 3);
        int[] levels = OptionList(args, "--concurrency", new[] { 1, 16, 64 });
        int index = Array.IndexOf(args, "--systems");
        string[] systems = index >= 0 && index + 1 < args.Length
            ? args[index + 1].Split(',')
            : new[] { "rpcgen", "tls", "raw", "grpc", "pingpong" };
        bool Runs(string system) => systems.Contains(system, StringComparer.OrdinalIgnoreCase);
        int payloadIndex = Array.IndexOf(args, "--payload");
        s_payload = payloadIndex >= 0 && payloadIndex + 1 < args.Length ? args[payloadIndex + 1] : "small";
        if (s_payload is not ("small" or "record" or "bytes" or "readings"))
        {
            Console.Error.WriteLine(
                "--payload is small (AddAsync), record (a 1 KiB record echoed), bytes (64 KiB echoed) or readings (64 KiB of records echoed)");
            return 2;
        }

        using Process server = StartServerProcess(out int rpcPort, out int basePort, out int grpcPort, out int tlsPort, out int poolPort);
        double mbps = Option(args, "--link-mbps", 0);
        await using var links = new Links(mbps);
        if (mbps > 0)
        {
            // Every candidate through its own throttling proxy: a link of this bandwidth each way, as between data centres.
            (rpcPort, basePort, grpcPort, tlsPort) = (links.Via(rpcPort), links.Via(basePort), links.Via(grpcPort), links.Via(tlsPort));
        }

        s_server = server;
        Console.Error.WriteLine($"client process {Environment.ProcessId}, server process {server.Id}");
        try
        {
            var results = new Dictionary<(string System, int Callers), List<Sample>>();
            for (int rep = 0; rep < repetitions; rep++)
            {
                foreach (int callers in levels)
                {
                    if (Runs("rpcgen"))
                    {
                        Add(results, "RpcGen", callers, await MeasureRpcGenAsync(rpcPort, callers, warmup, seconds));
                    }

                    if (Runs("rpcgen-zip") && s_payload != "small")
                    {
                        Add(results, "RpcGen [Compress]", callers, await MeasureRpcGenAsync(rpcPort, callers, warmup, seconds, compress: true));
                    }

                    if (Runs("rpcgen-admin"))
                    {
                        Sample open = await MeasureWithAdminOpenAsync(server, rpcPort, callers, warmup, seconds);
                        Add(results, "RpcGen, admin page open", callers, open);
                    }

                    foreach ((string store, int port) in s_dedupPorts)
                    {
                        if (Runs("dedup-" + store) && port > 0)
                        {
                            Add(results, $"RpcGen [Deduplicate], {store} store", callers, await MeasureDedupAsync(port, callers, warmup, seconds));
                        }
                    }

                    if (Runs("rpcgen-async"))
                    {
                        Add(results, "RpcGen, no receive threads", callers,
                            await MeasureRpcGenAsync(s_asyncPort, callers, warmup, seconds, receiveThreads: false));
                    }

                    if (Runs("rpcgen-pool"))
                    {
                        Add(results, "RpcGen, handlers on the pool", callers, await MeasureRpcGenAsync(poolPort, callers, warmup, seconds));
                    }

                    if (Runs("tls"))
                    {
                        Add(results, "RpcGen over TLS", callers, await MeasureRpcGenAsync(tlsPort, callers, warmup, seconds, tls: true));
                    }

                    if (Runs("raw"))
                    {
                        Add(results, "Raw multiplexed", callers, await MeasureMultiplexedAsync(basePort, callers, warmup, seconds));
                    }

                    if (Runs("raw-async"))
                    {
                        Add(results, "Raw multiplexed, async receives", callers,
                            await MeasureMultiplexedAsync(s_rawAsyncPort, callers, warmup, seconds, receiveThread: false));
                    }

                    if (Runs("grpc"))
                    {
                        Add(results, "gRPC-dotnet", callers, await MeasureGrpcAsync(grpcPort, callers, warmup, seconds));
                    }

                    if (callers == 1 && Runs("pingpong") && s_payload == "small")
                    {
                        Add(results, "Raw ping-pong", callers, await MeasurePingPongAsync(basePort, warmup, seconds));
                    }

                    Console.Error.WriteLine($"rep {rep + 1}/{repetitions}, {callers} callers done");
                }
            }

            Console.WriteLine(Report(results, levels, warmup, seconds, repetitions));
            return 0;
        }
        finally
        {
            StopServer(server);
        }
    }

    /// <summary>Ends a server process started for a run: its stdin closes, and it is killed if it lingers.</summary>
    internal static void StopServer(Process server)
    {
        server.StandardInput.Close();
        if (!server.WaitForExit(5000))
        {
            server.Kill();
        }
    }

    /// <summary>Runs as the server process: an RpcGen server and the baseline echo server; prints both ports.</summary>
    public static async Task<int> ServeAsync()
    {
        await using var server = new RpcServer();
        server.Map<IBench>(new Bench());
        server.Map<IPayloadBench>(new PayloadBench());
        server.Map<IZipPayloadBench>(new PayloadBench());
        await server.StartAsync();
        await using var tlsServer = new RpcServer(new RpcServerOptions { Tls = new RpcServerTlsOptions { Certificate = SelfSigned() } });
        tlsServer.Map<IBench>(new Bench());
        tlsServer.Map<IPayloadBench>(new PayloadBench());
        await tlsServer.StartAsync();
        using var stop = new CancellationTokenSource();
        int basePort = Baseline.StartThreadedServer(stop.Token);
        int rawAsyncPort = await Baseline.StartServerAsync(stop.Token);
        (Microsoft.AspNetCore.Builder.WebApplication grpc, int grpcPort) = await GrpcCandidate.StartServerAsync();
        // The same service with handlers dispatched to the thread pool (RpcServerOptions.RunHandlersInline = false).
        await using var poolServer = new RpcServer(new RpcServerOptions { RunHandlersInline = false });
        poolServer.Map<IBench>(new Bench());
        poolServer.Map<IPayloadBench>(new PayloadBench());
        await poolServer.StartAsync();
        // The same service with no receive threads (RpcServerOptions.Limits.MaxReceiveThreads = 0): every receive on the pool.
        await using var asyncServer = new RpcServer(new RpcServerOptions { Limits = { MaxReceiveThreads = 0 } });
        asyncServer.Map<IBench>(new Bench());
        asyncServer.Map<IPayloadBench>(new PayloadBench());
        await asyncServer.StartAsync();
        await using Admin.RpcAdminListener admin = Admin.RpcAdminListener.Start();
        int[] ports =
        {
            server.Endpoints[0].Port, basePort, grpcPort, tlsServer.Endpoints[0].Port, poolServer.Endpoints[0].Port, admin.Address.Port,
            asyncServer.Endpoints[0].Port, rawAsyncPort,
        };
        Console.WriteLine("PORTS " + string.Join(' ', ports));
        await using DedupServers dedup = await DedupServers.StartAsync();
        Console.WriteLine("DEDUP " + string.Join(' ', dedup.Ports.Select(p => $"{p.Store}={p.Port}")));
        // Until the parent closes our stdin; "admin-off" ends the admin page's live figures at once (as 30 s without a
        // request would), so the next candidate runs with the page closed.
        while (await Console.In.ReadLineAsync() is { } command)
        {
            if (command == "admin-off")
            {
                Admin.Internal.AdminWatch.Default.StopForTests();
                Console.WriteLine("admin-off done");
            }
        }

        stop.Cancel();
        await grpc.StopAsync();
        return 0;
    }

    private static Process? s_server;
    private static int s_serverAdminPort;
    private static Admin.RpcAdminListener? s_clientAdmin;

    /// <summary>
    /// RpcGen with the admin page open in both processes for the whole window, as a page is: every second each process
    /// is asked for one document (the views in turn, as someone clicking through the tabs), which keeps its live figures
    /// on, so every call records on both sides. Afterwards both are turned off, so the next candidate runs with the page
    /// closed.
    /// </summary>
    private static async Task<Sample> MeasureWithAdminOpenAsync(Process server, int port, int callers, double warmup, double seconds)
    {
        s_clientAdmin ??= Admin.RpcAdminListener.Start();
        Uri[] pages = { s_clientAdmin.Address, new($"http://127.0.0.1:{s_serverAdminPort}/") };
        using var http = new HttpClient();
        using var stop = new CancellationTokenSource();
        long documents = 0;
        Task poller = Task.Run(async () =>
        {
            string[] views = { "api/clients", "api/servers", "api/methods", "api/events" };
            for (int tick = 0; !stop.IsCancellationRequested; tick++)
            {
                foreach (Uri page in pages)
                {
                    await http.GetByteArrayAsync(new Uri(page, views[tick % views.Length]));
                    documents++;
                }

                await Task.Delay(1000, stop.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
        });
        await Task.Delay(100); // the first requests turned the figures on before the calls begin
        Sample sample = await MeasureRpcGenAsync(port, callers, warmup, seconds);
        stop.Cancel();
        await poller;
        Admin.Internal.AdminWatch.Default.StopForTests();
        server.StandardInput.WriteLine("admin-off");
        server.StandardInput.Flush();
        if (server.StandardOutput.ReadLine() != "admin-off done")
        {
            throw new InvalidOperationException("The server process did not turn its admin figures off.");
        }

        Console.Error.WriteLine($"  admin page open: {documents} documents read during {callers} callers' window");
        return sample;
    }
    private static string s_payload = "small";

    /// <summary>The payload the raw and gRPC-dotnet candidates send (the gateway runner measures them as baselines).</summary>
    internal static string Payload
    {
        set => s_payload = value;
    }
    private const int BytesPayload = 64 * 1024;

    /// <summary>A throwaway certificate for the TLS server (the benchmark's client accepts it without a chain).</summary>
    private static System.Security.Cryptography.X509Certificates.X509Certificate2 SelfSigned()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=localhost", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(
            certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);
    }

    internal static Process StartServerProcess(out int rpcPort, out int basePort, out int grpcPort, out int tlsPort, out int poolPort)
    {
        string self = Environment.ProcessPath!;
        var start = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.FileName = self;
            start.ArgumentList.Add(typeof(LoadRunner).Assembly.Location);
        }
        else
        {
            start.FileName = self;
        }

        start.ArgumentList.Add("serve");
        Process process = Process.Start(start)!;
        string line = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("The server process did not start.");
        string[] parts = line.Split(' ');
        rpcPort = int.Parse(parts[1], CultureInfo.InvariantCulture);
        basePort = int.Parse(parts[2], CultureInfo.InvariantCulture);
        grpcPort = int.Parse(parts[3], CultureInfo.InvariantCulture);
        tlsPort = int.Parse(parts[4], CultureInfo.InvariantCulture);
        poolPort = int.Parse(parts[5], CultureInfo.InvariantCulture);
        s_serverAdminPort = int.Parse(parts[6], CultureInfo.InvariantCulture);
        s_asyncPort = int.Parse(parts[7], CultureInfo.InvariantCulture);
        s_rawAsyncPort = int.Parse(parts[8], CultureInfo.InvariantCulture);
        string dedup = process.StandardOutput.ReadLine()
            ?? throw new InvalidOperationException("The server process did not start its deduplication servers.");
        s_dedupPorts = dedup.Split(' ').Skip(1).Select(p => p.Split('='))
            .Select(p => (p[0], int.Parse(p[1], CultureInfo.InvariantCulture))).ToArray();
        return process;
    }

    private static (string Store, int Port)[] s_dedupPorts = Array.Empty<(string, int)>();

    private static int s_asyncPort; // the server without receive threads (candidate rpcgen-async)

    private static int s_rawAsyncPort; // the raw echo server on the socket engine (candidate raw-async)

    private static readonly int s_receiveThreadDefault = new RpcClientOptions().Connection.MaxReceiveThreads;

    /// <summary>The small call as a [Deduplicate] method: each call has its own id, claimed and answered in the store.</summary>
    private static async Task<Sample> MeasureDedupAsync(int port, int callers, double warmup, double seconds)
    {
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { new RpcEndpoint("127.0.0.1", port) } });
        IDedupBench bench = client.CreateProxy<IDedupBench>();
        return await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(bench.AddAsync(caller, 1)));
    }

    private static async Task<Sample> MeasureRpcGenAsync(
        int port, int callers, double warmup, double seconds, bool tls = false, bool compress = false, bool receiveThreads = true)
    {
        await using var client = new RpcClient(new RpcClientOptions
        {
            Endpoints = { new RpcEndpoint("127.0.0.1", port) },
            Connection = { MaxReceiveThreads = receiveThreads ? s_receiveThreadDefault : 0 },
            Tls = tls ? new RpcClientTlsOptions { TargetHost = "localhost", ServerCertificateValidation = (_, _, _) => true } : null,
        });
        IBench bench = client.CreateProxy<IBench>();
        IPayloadBench payload = client.CreateProxy<IPayloadBench>();
        IZipPayloadBench zip = client.CreateProxy<IZipPayloadBench>();
        BenchRecord record = BenchRecord.Sample;
        byte[] bytes = new byte[BytesPayload];
        BenchReading[] readings = BenchReading.Page;
        return (s_payload, compress) switch
        {
            // The proxy's task is handed to the runner as it is: no async wrapper of the runner's own (the raw clients have none).
            ("record", false) => await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(payload.EchoRecordAsync(record))),
            ("bytes", false) => await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(payload.EchoBytesAsync(bytes))),
            ("readings", false) => await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(payload.EchoReadingsAsync(readings))),
            ("record", true) => await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(zip.EchoRecordAsync(record))),
            ("bytes", true) => await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(zip.EchoBytesAsync(bytes))),
            ("readings", true) => await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(zip.EchoReadingsAsync(readings))),
            _ => await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(bench.AddAsync(caller, 1))),
        };
    }

    internal static async Task<Sample> MeasureMultiplexedAsync(int port, int callers, double warmup, double seconds, bool receiveThread = true)
    {
        int size = s_payload switch
        {
            // As many bytes as RpcGen's request body carries: the record as JSON, or the array (base64 in JSON).
            "record" => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(BenchRecord.Sample, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)).Length,
            "bytes" => BytesPayload,
            "readings" => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(
                BenchReading.Page, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)).Length,
            _ => Baseline.PayloadSize,
        };
        await using var client = new Baseline.MultiplexedClient(port, callers, size, receiveThread);
        return await MeasureAsync(callers, warmup, seconds, client.CallAsync);
    }

    internal static async Task<Sample> MeasureGrpcAsync(int port, int callers, double warmup, double seconds)
    {
        using global::Grpc.Net.Client.GrpcChannel channel = GrpcCandidate.CreateChannel(port);
        var client = new Grpc.GrpcBench.GrpcBenchClient(channel);
        var payload = new Grpc.GrpcPayloadBench.GrpcPayloadBenchClient(channel);
        Grpc.Record record = GrpcCandidate.SampleRecord();
        var blob = new Grpc.Blob { Data = Google.Protobuf.ByteString.CopyFrom(new byte[BytesPayload]) };
        Grpc.Readings readings = GrpcCandidate.SampleReadings();
        return s_payload switch
        {
            "readings" => await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(payload.EchoReadingsAsync(readings).ResponseAsync)),
            "record" => await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(payload.EchoRecordAsync(record).ResponseAsync)),
            "bytes" => await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(payload.EchoBytesAsync(blob).ResponseAsync)),
            _ => await MeasureAsync(callers, warmup, seconds, caller => new ValueTask(client.SumAsync(new Grpc.SumRequest { A = caller, B = 1 }).ResponseAsync)),
        };
    }

    private static async Task<Sample> MeasurePingPongAsync(int port, double warmup, double seconds)
    {
        using var client = new Baseline.PingPongClient(port);
        return await MeasureAsync(1, warmup, seconds, client.CallAsync);
    }

    /// <summary>The server process whose CPU time counts with this one's (the gateway runner shares the measurement).</summary>
    internal static Process? ServerProcess
    {
        set => s_server = value;
    }

    internal static async Task<Sample> MeasureAsync(int callers, double warmup, double seconds, Func<int, ValueTask> call)
    {
        var histograms = new HdrHistogram.LongHistogram[callers];
        var counts = new long[callers];
        int phase = 0; // 0 warm-up, 1 measuring, 2 stop
        var workers = new Task[callers];
        for (int c = 0; c < callers; c++)
        {
            int caller = c;
            histograms[caller] = new HdrHistogram.LongHistogram(s_longestCall, 3);
            workers[caller] = Task.Run(async () =>
            {
                HdrHistogram.LongHistogram histogram = histograms[caller];
                while (true)
                {
                    int current = Volatile.Read(ref phase);
                    if (current == 2)
                    {
                        return;
                    }

                    long start = Stopwatch.GetTimestamp();
                    await call(caller);
                    if (current == 1)
                    {
                        histogram.RecordValue(Math.Min(Stopwatch.GetTimestamp() - start, s_longestCall));
                        counts[caller]++;
                    }
                }
            });
        }

        await Task.Delay(TimeSpan.FromSeconds(warmup));
        Volatile.Write(ref phase, 1);
        long measureStart = Stopwatch.GetTimestamp();
        TimeSpan cpuStart = CpuTime();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        Volatile.Write(ref phase, 2);
        double elapsed = Stopwatch.GetElapsedTime(measureStart).TotalSeconds;
        TimeSpan cpu = CpuTime() - cpuStart;
        await Task.WhenAll(workers);

        var merged = new HdrHistogram.LongHistogram(s_longestCall, 3);
        foreach (HdrHistogram.LongHistogram histogram in histograms)
        {
            merged.Add(histogram);
        }

        long total = counts.Sum();
        return new Sample(total / elapsed, Micros(merged, 50), Micros(merged, 99), cpu.TotalMicroseconds / Math.Max(1, total));
    }

    /// <summary>CPU time of this process and the server process (both sides of every candidate).</summary>
    private static TimeSpan CpuTime()
    {
        using Process self = Process.GetCurrentProcess();
        TimeSpan total = self.TotalProcessorTime;
        if (s_server is { HasExited: false } server)
        {
            server.Refresh();
            total += server.TotalProcessorTime;
        }

        return total;
    }

    private static double Micros(HdrHistogram.LongHistogram histogram, double percentile) =>
        histogram.TotalCount == 0 ? double.NaN : histogram.GetValueAtPercentile(percentile) * 1e6 / Stopwatch.Frequency;

    private static void Add(Dictionary<(string, int), List<Sample>> results, string system, int callers, Sample sample)
    {
        if (!results.TryGetValue((system, callers), out List<Sample>? list))
        {
            results[(system, callers)] = list = new List<Sample>();
        }

        list.Add(sample);
    }

    private static string Report(Dictionary<(string System, int Callers), List<Sample>> results, int[] levels, double warmup, double seconds, int repetitions)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Payload: {s_payload}. Closed loop on loopback, server in a separate process; {warmup:0.#} s warm-up, {seconds:0.#} s measured, median of {repetitions} interleaved repetitions (min–max in brackets); CPU = client + server process CPU time ÷ calls; {Environment.ProcessorCount} cores, .NET {Environment.Version}.");
        text.AppendLine();
        text.AppendLine("| system | callers | calls/s [min–max] | p50 µs | p99 µs | CPU µs/call | ÷ raw multiplexed | ÷ gRPC-dotnet |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (int callers in levels)
        {
            double raw = results.TryGetValue(("Raw multiplexed", callers), out List<Sample>? rawSamples) ? Median(rawSamples.Select(s => s.CallsPerSecond)) : double.NaN;
            double grpc = results.TryGetValue(("gRPC-dotnet", callers), out List<Sample>? grpcSamples) ? Median(grpcSamples.Select(s => s.CallsPerSecond)) : double.NaN;
            foreach (string system in results.Keys.Select(k => k.System).Distinct()) // in the order they were measured
            {
                if (!results.TryGetValue((system, callers), out List<Sample>? samples))
                {
                    continue;
                }

                double rate = Median(samples.Select(s => s.CallsPerSecond));
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {system} | {callers} | {rate:N0} [{samples.Min(s => s.CallsPerSecond):N0}–{samples.Max(s => s.CallsPerSecond):N0}] | {Median(samples.Select(s => s.P50)):0.0} | {Median(samples.Select(s => s.P99)):0.0} | {Median(samples.Select(s => s.CpuMicrosecondsPerCall)):0.0} | {rate / raw:0.00} | {rate / grpc:0.00} |");
            }
        }

        foreach (int callers in levels)
        {
            if (results.TryGetValue(("RpcGen", callers), out List<Sample>? closed)
                && results.TryGetValue(("RpcGen, admin page open", callers), out List<Sample>? open))
            {
                // Each repetition measures the two back to back: their ratio is steadier than the medians' on a noisy machine.
                double[] ratios = closed.Zip(open, (c, o) => o.CallsPerSecond / c.CallsPerSecond).Order().ToArray();
                double[] cpu = closed.Zip(open, (c, o) => o.CpuMicrosecondsPerCall / c.CpuMicrosecondsPerCall).Order().ToArray();
                text.AppendLine();
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"{callers} callers, admin page open ÷ closed, per repetition: " +
                    $"calls/s {Median(ratios):0.000} [{ratios[0]:0.000}–{ratios[^1]:0.000}], " +
                    $"CPU per call {Median(cpu):0.000} [{cpu[0]:0.000}–{cpu[^1]:0.000}]");
            }
        }

        if (results.TryGetValue(("Raw ping-pong", 1), out List<Sample>? pingPong) && results.TryGetValue(("RpcGen", 1), out List<Sample>? single))
        {
            double ratio = Median(single.Select(s => s.P50)) / Median(pingPong.Select(s => s.P50));
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"RpcGen p50 at 1 caller / raw ping-pong p50: {ratio:0.00}x");
        }

        return text.ToString();
    }

    internal static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    internal static double Option(string[] args, string name, double fallback)
    {
        int index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? double.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }

    internal static int[] OptionList(string[] args, string name, int[] fallback)
    {
        int index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length
            ? args[index + 1].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray()
            : fallback;
    }

    internal readonly record struct Sample(double CallsPerSecond, double P50, double P99, double CpuMicrosecondsPerCall);

    /// <summary>The throttling proxies of <c>--link-mbps</c>, one per server port (the test suite's FaultProxy).</summary>
    private sealed class Links(double mbps) : IAsyncDisposable
    {
        private readonly List<RpcGen.Tests.Support.FaultProxy> _proxies = new();

        public int Via(int port)
        {
            var proxy = RpcGen.Tests.Support.FaultProxy.Start(new RpcEndpoint("127.0.0.1", port));
            proxy.BytesPerSecond = (long)(mbps * 1_000_000 / 8);
            _proxies.Add(proxy);
            return proxy.Endpoint.Port;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (RpcGen.Tests.Support.FaultProxy proxy in _proxies)
            {
                await proxy.DisposeAsync();
            }
        }
    }
}

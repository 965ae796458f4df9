using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using RpcGen.Benchmarks.Grpc;

namespace RpcGen.Benchmarks;

/// <summary>An item of about 100 bytes on the wire: <c>{"payload":"…"}</c> with 86 characters.</summary>
public sealed record StreamItem100(string Payload)
{
    public static readonly string Text = new('x', 86);
}

[RpcService("stream-bench")]
public interface IStreamBench
{
    /// <summary><paramref name="count"/> items (-1: until the caller stops), as fast as the caller takes them.</summary>
    IAsyncEnumerable<StreamItem100> ItemsAsync(int count, CancellationToken ct = default);

    /// <summary>The same stream with its window fixed at the default's first 64 items (it does not grow).</summary>
    [Streaming(MaxWindowItems = 64)]
    IAsyncEnumerable<StreamItem100> FixedItemsAsync(int count, CancellationToken ct = default);

    /// <summary>The same stream with <c>[Compress]</c>: each frame of items (up to 16 KiB) compressed with Zstandard.</summary>
    [Compress]
    IAsyncEnumerable<StreamItem100> CompressedItemsAsync(int count, CancellationToken ct = default);

    IAsyncEnumerable<StreamItem100> EchoAsync(IAsyncEnumerable<StreamItem100> items, CancellationToken ct = default);

    Task<StreamItem100> UnaryEchoAsync(StreamItem100 item, CancellationToken ct = default);
}

public sealed class StreamBench : IStreamBench
{
    private static readonly StreamItem100 s_item = new(StreamItem100.Text);

    public async IAsyncEnumerable<StreamItem100> ItemsAsync(int count, [EnumeratorCancellation] CancellationToken ct = default)
    {
        for (long i = 0; count < 0 || i < count; i++)
        {
            if ((i & 1023) == 1023)
            {
                ct.ThrowIfCancellationRequested();
                await Task.Yield(); // an async source, as real ones are; items in between are ready at once
            }

            yield return s_item;
        }
    }

    public IAsyncEnumerable<StreamItem100> FixedItemsAsync(int count, CancellationToken ct = default) => ItemsAsync(count, ct);

    public IAsyncEnumerable<StreamItem100> CompressedItemsAsync(int count, CancellationToken ct = default) => ItemsAsync(count, ct);

    public async IAsyncEnumerable<StreamItem100> EchoAsync(IAsyncEnumerable<StreamItem100> items,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (StreamItem100 item in items.WithCancellation(ct))
        {
            yield return item;
        }
    }

    public Task<StreamItem100> UnaryEchoAsync(StreamItem100 item, CancellationToken ct = default) => Task.FromResult(item);
}

/// <summary>
/// Streaming throughput and latency: items per second of ~100-byte items over one connection for 1 and 16 concurrent
/// server streams (RpcGen, gRPC-dotnet server streaming, and a raw socket that writes the same bytes as fast as it
/// can, the ceiling), and a duplex echo's round trip beside a unary call's. Servers in a separate process on loopback;
/// candidates interleaved, repeated, medians reported.
///   dotnet run -c Release --project tests/RpcGen.Benchmarks -- stream [--seconds 3] [--warmup 1] [--reps 3]
///       [--systems rpcgen,grpc,raw,raw-async,roundtrip]
/// </summary>
internal static class StreamRunner
{
    public static async Task<int> RunAsync(string[] args)
    {
        double warmup = Option(args, "--warmup", 1.0);
        double seconds = Option(args, "--seconds", 3.0);
        int reps = (int)Option(args, "--reps", 3);
        int only = Array.IndexOf(args, "--systems");
        string[] systems = only >= 0 && only + 1 < args.Length ? args[only + 1].Split(',') : new[] { "rpcgen", "rpcgen-fixed", "grpc", "raw",
            "roundtrip" };
        bool Runs(string system) => systems.Contains(system, StringComparer.OrdinalIgnoreCase);
        using Process server = StartServerProcess(out int rpcPort, out int grpcPort, out int rawPort);
        try
        {
            var results = new Dictionary<string, List<double>>();
            for (int rep = 0; rep < reps; rep++)
            {
                foreach (int streams in new[] { 1, 16 })
                {
                    if (Runs("rpcgen"))
                    {
                        Add(results, $"RpcGen, {streams} stream(s)", await RpcGenItemsAsync(rpcPort, streams, warmup, seconds));
                    }

                    if (Runs("rpcgen-fixed"))
                    {
                        Add(results, $"RpcGen, window fixed at 64 items, {streams} stream(s)", await RpcGenItemsAsync(rpcPort, streams, warmup,
                            seconds, fixedWindow: true));
                    }

                    if (Runs("rpcgen-zip"))
                    {
                        Add(results, $"RpcGen [Compress], {streams} stream(s)", await RpcGenItemsAsync(rpcPort, streams, warmup, seconds,
                            compressed: true));
                    }

                    if (Runs("grpc"))
                    {
                        Add(results, $"gRPC-dotnet, {streams} stream(s)", await GrpcItemsAsync(grpcPort, streams, warmup, seconds));
                    }
                }

                if (Runs("raw"))
                {
                    Add(results, "raw socket, 1 connection", await RawItemsOnThreadAsync(rawPort, warmup, seconds));
                }

                if (Runs("raw-async"))
                {
                    Add(results, "raw socket, async reader, 1 connection", await RawItemsAsync(rawPort, warmup, seconds));
                }

                if (Runs("roundtrip"))
                {
                    (double duplex, double unary) = await RoundTripsAsync(rpcPort, warmup, seconds);
                    Add(results, "duplex echo round trip p50 (µs)", duplex);
                    Add(results, "unary echo call p50 (µs)", unary);
                }
            }

            Console.WriteLine($"| candidate | median of {reps} | runs |");
            Console.WriteLine("|---|---:|---|");
            foreach ((string name, List<double> values) in results)
            {
                List<double> sorted = values.Order().ToList();
                string unit = name.Contains("µs", StringComparison.Ordinal) ? string.Empty : " items/s";
                Console.WriteLine($"| {name} | {Format(sorted[sorted.Count / 2])}{unit} | {string.Join(", ", values.Select(Format))} |");
            }
        }
        finally
        {
            server.StandardInput.Close();
            server.WaitForExit(10_000);
        }

        return 0;
    }

    private static string Format(double value) => value >= 1000 ? value.ToString("N0", CultureInfo.InvariantCulture) : value.ToString("0.0",
        CultureInfo.InvariantCulture);

    private static void Add(Dictionary<string, List<double>> results, string name, double value)
    {
        Console.Error.WriteLine($"{name}: {Format(value)}");
        if (!results.TryGetValue(name, out List<double>? list))
        {
            results[name] = list = new List<double>();
        }

        list.Add(value);
    }

    /// <summary>
    /// Items per second that <paramref name="streams"/> readers take together: each reads a stream of a fixed length to its
    /// end (no cancellation, so every candidate's handler ends on its own), after warm-up rounds.
    /// </summary>
    private static async Task<double> MeasureAsync(int streams, double warmup, double seconds, Func<int, Task> read)
    {
        // Warm-up rounds for the given seconds (so that tiered compilation is done before the clock runs), the last of
        // which sizes the measured round to take about the given seconds.
        int warmCount = 20_000;
        double warmRate;
        long warmStart = Stopwatch.GetTimestamp();
        do
        {
            long round = Stopwatch.GetTimestamp();
            await Task.WhenAll(Enumerable.Range(0, streams).Select(_ => Task.Run(() => read(warmCount))));
            warmRate = streams * (double)warmCount / Stopwatch.GetElapsedTime(round).TotalSeconds;
            warmCount = (int)Math.Clamp(warmRate * 0.25 / streams, 20_000, 10_000_000);
        }
        while (Stopwatch.GetElapsedTime(warmStart).TotalSeconds < warmup);

        int count = (int)Math.Clamp(warmRate * seconds / streams, 10_000, 50_000_000);
        long start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, streams).Select(_ => Task.Run(() => read(count))));
        return streams * (double)count / Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static async Task<double> RpcGenItemsAsync(
        int port, int streams, double warmup, double seconds, bool fixedWindow = false, bool compressed = false)
    {
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { new RpcEndpoint("127.0.0.1", port) } });
        IStreamBench bench = client.CreateProxy<IStreamBench>();
        return await MeasureAsync(streams, warmup, seconds, async count =>
        {
            int read = 0;
            IAsyncEnumerable<StreamItem100> items =
                fixedWindow ? bench.FixedItemsAsync(count) : compressed ? bench.CompressedItemsAsync(count) : bench.ItemsAsync(count);
            await foreach (StreamItem100 item in items)
            {
                read++;
            }

            Check(read, count);
        });
    }

    private static async Task<double> GrpcItemsAsync(int port, int streams, double warmup, double seconds)
    {
        using GrpcChannel channel = GrpcCandidate.CreateChannel(port);
        var client = new GrpcStreamBench.GrpcStreamBenchClient(channel);
        return await MeasureAsync(streams, warmup, seconds, async count =>
        {
            int read = 0;
            using AsyncServerStreamingCall<Grpc.StreamItem> call = client.Items(new ItemsRequest { Count = count });
            await foreach (Grpc.StreamItem item in call.ResponseStream.ReadAllAsync())
            {
                read++;
            }

            Check(read, count);
        });
    }

    private static void Check(int read, int count)
    {
        if (read != count)
        {
            throw new InvalidOperationException($"read {read} items of {count}");
        }
    }

    /// <summary>
    /// The ceiling: one socket whose server writes length-prefixed 100-byte items from a prebuilt buffer in 64 KiB blocking
    /// sends on a thread of its own, and a reader on a thread of its own that receives with blocking receives, parses each
    /// item's length and skips its bytes, nothing else.
    /// </summary>
    private static Task<double> RawItemsOnThreadAsync(int port, double warmup, double seconds) =>
        MeasureAsync(1, warmup, seconds, count =>
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var reader = new Thread(() =>
            {
                try
                {
                    using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    socket.Connect(IPAddress.Loopback, port);
                    ReadItems(socket, count);
                    done.SetResult();
                }
                catch (Exception ex)
                {
                    done.SetException(ex);
                }
            })
            { IsBackground = true, Name = "raw stream reader" };
            reader.Start();
            return done.Task;
        });

    private static void ReadItems(Socket socket, int count)
    {
        byte[] buffer = new byte[64 * 1024];
        int filled = 0;
        long items = 0;
        while (items < count)
        {
            int read = socket.Receive(buffer, filled, buffer.Length - filled, SocketFlags.None);
            if (read == 0)
            {
                throw new InvalidOperationException("the raw server closed the connection");
            }

            items += SkipItems(buffer, filled + read, out filled);
        }
    }

    /// <summary>
    /// Skips the whole length-prefixed items in the first <paramref name="length"/> bytes of <paramref name="buffer"/>, moves
    /// the incomplete rest to its start (<paramref name="rest"/> bytes), and returns how many items there were.
    /// </summary>
    private static int SkipItems(byte[] buffer, int length, out int rest)
    {
        int offset = 0;
        int items = 0;
        while (length - offset >= 4)
        {
            int item = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(offset));
            if (length - offset < 4 + item)
            {
                break;
            }

            offset += 4 + item;
            items++;
        }

        buffer.AsSpan(offset, length - offset).CopyTo(buffer);
        rest = length - offset;
        return items;
    }

    /// <summary>
    /// The same reader on the socket engine (asynchronous receives), for comparison: the bar until 2026-12-07.
    /// </summary>
    private static Task<double> RawItemsAsync(int port, double warmup, double seconds) =>
        MeasureAsync(1, warmup, seconds, async count =>
        {
            using var tcp = new TcpClient { NoDelay = true };
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            NetworkStream stream = tcp.GetStream();
            byte[] buffer = new byte[64 * 1024];
            int filled = 0;
            long items = 0;
            while (items < count)
            {
                int read = await stream.ReadAsync(buffer.AsMemory(filled));
                if (read == 0)
                {
                    throw new InvalidOperationException("the raw server closed the connection");
                }

                items += SkipItems(buffer, filled + read, out filled);
            }
        });

    /// <summary>Median round trip of one item through a duplex echo stream, and of a unary echo call, one caller each.</summary>
    private static async Task<(double Duplex, double Unary)> RoundTripsAsync(int port, double warmup, double seconds)
    {
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { new RpcEndpoint("127.0.0.1", port) } });
        IStreamBench bench = client.CreateProxy<IStreamBench>();
        var item = new StreamItem100(StreamItem100.Text);

        var unary = new List<double>();
        long until = Stopwatch.GetTimestamp() + (long)((warmup + seconds) * Stopwatch.Frequency);
        long measureFrom = Stopwatch.GetTimestamp() + (long)(warmup * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < until)
        {
            long start = Stopwatch.GetTimestamp();
            await bench.UnaryEchoAsync(item);
            if (start >= measureFrom)
            {
                unary.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
            }
        }

        // Duplex: the caller's stream yields the next item once the previous one came back. The signal continues the
        // stream on the reader's thread, as the unary loop issues its next call where its caller resumed (a
        // SemaphoreSlim, the signal until 2026-12-07, resumes its waiter on the thread pool: a hop of the benchmark's own).
        var duplex = new List<double>();
        var next = System.Threading.Channels.Channel.CreateUnbounded<bool>(
            new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = true });
        long sentAt = 0;
        using var stop = new CancellationTokenSource();
        async IAsyncEnumerable<StreamItem100> Requests([EnumeratorCancellation] CancellationToken ct = default)
        {
            while (!stop.IsCancellationRequested)
            {
                sentAt = Stopwatch.GetTimestamp();
                yield return item;
                try
                {
                    await next.Reader.ReadAsync(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    yield break;
                }
            }
        }

        until = Stopwatch.GetTimestamp() + (long)((warmup + seconds) * Stopwatch.Frequency);
        measureFrom = Stopwatch.GetTimestamp() + (long)(warmup * Stopwatch.Frequency);
        await foreach (StreamItem100 echoed in bench.EchoAsync(Requests()))
        {
            long now = Stopwatch.GetTimestamp();
            if (sentAt >= measureFrom)
            {
                duplex.Add(Stopwatch.GetElapsedTime(sentAt, now).TotalMicroseconds);
            }

            if (now >= until)
            {
                stop.Cancel();
                break;
            }

            next.Writer.TryWrite(true);
        }

        return (Median(duplex), Median(unary));

        static double Median(List<double> values)
        {
            values.Sort();
            return values.Count == 0 ? double.NaN : values[values.Count / 2];
        }
    }

    public static async Task<int> ServeAsync()
    {
        await using var server = new RpcServer();
        server.Map<IStreamBench>(new StreamBench());
        await server.StartAsync();

        (WebApplication grpc, int grpcPort) = await GrpcCandidate.StartServerAsync(app => app.MapGrpcService<GrpcItems>());

        using var stop = new CancellationTokenSource();
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        _ = ServeRawAsync(listener, stop.Token);

        Console.WriteLine($"PORTS {server.Endpoints[0].Port} {grpcPort} {((IPEndPoint)listener.LocalEndpoint).Port}");
        await Console.In.ReadToEndAsync();
        stop.Cancel();
        listener.Stop();
        await grpc.StopAsync();
        return 0;
    }

    /// <summary>Writes length-prefixed items (the same 100 bytes of JSON RpcGen sends) from one prebuilt buffer until the reader goes.</summary>
    private static async Task ServeRawAsync(TcpListener listener, CancellationToken stop)
    {
        byte[] item = System.Text.Encoding.UTF8.GetBytes($"{{\"payload\":\"{StreamItem100.Text}\"}}");
        int perBuffer = 64 * 1024 / (4 + item.Length);
        byte[] buffer = new byte[perBuffer * (4 + item.Length)];
        for (int i = 0; i < perBuffer; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(i * (4 + item.Length)), item.Length);
            item.CopyTo(buffer, (i * (4 + item.Length)) + 4);
        }

        while (!stop.IsCancellationRequested)
        {
            TcpClient tcp;
            try
            {
                tcp = await listener.AcceptTcpClientAsync(stop);
            }
            catch (Exception)
            {
                return;
            }

            // A thread of its own that writes with blocking sends: no socket engine, no thread pool.
            var writer = new Thread(() =>
            {
                using (tcp)
                {
                    tcp.NoDelay = true;
                    Socket socket = tcp.Client;
                    try
                    {
                        while (!stop.IsCancellationRequested)
                        {
                            for (int sent = 0; sent < buffer.Length;)
                            {
                                sent += socket.Send(buffer, sent, buffer.Length - sent, SocketFlags.None);
                            }
                        }
                    }
                    catch (Exception)
                    {
                        // The reader went away.
                    }
                }
            })
            { IsBackground = true, Name = "raw stream writer" };
            writer.Start();
        }
    }

    private sealed class GrpcItems : GrpcStreamBench.GrpcStreamBenchBase
    {
        private static readonly Grpc.StreamItem s_item = new() { Payload = StreamItem100.Text };
        private static readonly WriteOptions s_buffered = new(WriteFlags.BufferHint);

        /// <summary>
        /// As fast as grpc-dotnet writes a stream: messages buffered (<see cref="WriteFlags.BufferHint"/>: no flush per
        /// message) and flushed every 1,024 and at the end, where RpcGen's source yields the thread.
        /// </summary>
        public override async Task Items(ItemsRequest request, IServerStreamWriter<Grpc.StreamItem> responseStream, ServerCallContext context)
        {
            for (long i = 0; request.Count < 0 || i < request.Count; i++)
            {
                if (context.CancellationToken.IsCancellationRequested)
                {
                    return;
                }

                bool flush = (i & 1023) == 1023 || i == request.Count - 1;
                responseStream.WriteOptions = flush ? WriteOptions.Default : s_buffered;
                await responseStream.WriteAsync(s_item);
            }
        }
    }

    private static Process StartServerProcess(out int rpcPort, out int grpcPort, out int rawPort)
    {
        string self = Environment.ProcessPath!;
        var start = new ProcessStartInfo { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false, FileName = self };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(StreamRunner).Assembly.Location);
        }

        start.ArgumentList.Add("stream-serve");
        Process process = Process.Start(start)!;
        string[] parts = (process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("The server process did not start.")).Split(' ');
        rpcPort = int.Parse(parts[1], CultureInfo.InvariantCulture);
        grpcPort = int.Parse(parts[2], CultureInfo.InvariantCulture);
        rawPort = int.Parse(parts[3], CultureInfo.InvariantCulture);
        return process;
    }

    private static double Option(string[] args, string name, double fallback)
    {
        int index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? double.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }
}

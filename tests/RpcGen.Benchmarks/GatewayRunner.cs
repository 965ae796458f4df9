using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RpcGen.AspNetCore;
using RpcGen.Benchmarks.Transcoding;
using RpcGen.Hosting;

namespace RpcGen.Benchmarks;

/// <summary>
/// The HTTP/JSON gateway against the same calls served by ASP.NET Core minimal APIs and by gRPC JSON transcoding, in one
/// Kestrel in a separate process, each called over HTTP/1.1 with JSON bodies by the same HttpClient settings (one
/// connection per caller); and RpcGen's own client over TCP to the same server, for the gateway's overhead. Systems and
/// caller counts interleaved and repeated; medians reported.
/// </summary>
internal static class GatewayRunner
{
    public static async Task<int> RunAsync(string[] args)
    {
        double warmup = LoadRunner.Option(args, "--warmup", 1.0);
        double seconds = LoadRunner.Option(args, "--seconds", 3.0);
        int repetitions = (int)LoadRunner.Option(args, "--reps", 3);
        int[] levels = LoadRunner.OptionList(args, "--concurrency", new[] { 1, 64 });
        int payloadIndex = Array.IndexOf(args, "--payload");
        string payload = payloadIndex >= 0 && payloadIndex + 1 < args.Length ? args[payloadIndex + 1] : "small";
        if (payload is not ("small" or "record"))
        {
            Console.Error.WriteLine("--payload is small (AddAsync) or record (a 1 KiB record echoed)");
            return 2;
        }

        using Process server = StartServer(out int httpPort, out int rpcPort);
        // The load runner's server process: the fastest raw client's echo server and gRPC-dotnet, the project's baselines.
        using Process baselines = LoadRunner.StartServerProcess(out _, out int rawPort, out int grpcPort, out _, out _);
        LoadRunner.Payload = payload;
        try
        {
            var web = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
            string record = System.Text.Json.JsonSerializer.Serialize(BenchRecord.Sample, web);
            // The same JSON for every HTTP candidate; transcoding's Record has its date as a string, as its proto says.
            (string Name, string Path, string Body)[] systems = payload == "small"
                ? new[]
                {
                    ("RpcGen gateway", "/bench/Add", "{\"a\":2,\"b\":3}"),
                    ("Kestrel, bare handler", "/bare/add", "{\"a\":2,\"b\":3}"),
                    ("Minimal API", "/minimal/add", "{\"a\":2,\"b\":3}"),
                    ("gRPC JSON transcoding", "/v1/sum", "{\"a\":2,\"b\":3}"),
                }
                : new[]
                {
                    ("RpcGen gateway", "/payload/EchoRecord", "{\"record\":" + record + "}"),
                    ("Kestrel, bare handler", "/bare/record", record),
                    ("Minimal API", "/minimal/record", record),
                    ("gRPC JSON transcoding", "/v1/record", record),
                };
            var results = new Dictionary<(string, int), List<LoadRunner.Sample>>();
            for (int rep = 0; rep < repetitions; rep++)
            {
                foreach (int callers in levels)
                {
                    LoadRunner.ServerProcess = server;
                    foreach ((string name, string path, string body) in systems)
                    {
                        Add(results, name, callers, await MeasureHttpAsync(httpPort, path, body, callers, warmup, seconds));
                    }

                    Add(results, "RpcGen client (TCP, no gateway)", callers, await MeasureDirectAsync(rpcPort, payload, callers, warmup, seconds));
                    LoadRunner.ServerProcess = baselines;
                    Add(results, "Raw multiplexed", callers, await LoadRunner.MeasureMultiplexedAsync(rawPort, callers, warmup, seconds));
                    Add(results, "gRPC-dotnet", callers, await LoadRunner.MeasureGrpcAsync(grpcPort, callers, warmup, seconds));
                    Console.Error.WriteLine($"rep {rep + 1}/{repetitions}, {callers} callers done");
                }
            }

            Console.WriteLine(Report(results, levels, payload, warmup, seconds, repetitions));
            return 0;
        }
        finally
        {
            LoadRunner.StopServer(server);
            LoadRunner.StopServer(baselines);
        }
    }

    /// <summary>The server process: one Kestrel with the three HTTP candidates, and RpcGen's TCP listener.</summary>
    public static async Task<int> ServeAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Services.AddGrpc().AddJsonTranscoding();
        builder.Services.AddRpcServer()
            .MapService<IBench, Bench>(ServiceLifetime.Singleton)
            .MapService<IPayloadBench, PayloadBench>(ServiceLifetime.Singleton);
        WebApplication app = builder.Build();
        app.MapRpcGateway<IBench>();
        app.MapRpcGateway<IPayloadBench>();
        // Minimal APIs as users write them: a typed body bound from JSON, the result written as JSON.
        app.MapPost("/minimal/add", (AddBody body) => body.A + body.B);
        app.MapPost("/minimal/record", (BenchRecord record) => record);
        // The fastest HTTP/JSON server we can write on Kestrel: a bare request delegate, no routing values or binding,
        // the numbers read with a Utf8JsonReader and the record's bytes echoed as they came.
        app.MapPost("/bare/add", BareAddAsync);
        app.MapPost("/bare/record", async http =>
        {
            http.Response.ContentType = "application/json";
            await http.Request.Body.CopyToAsync(http.Response.Body);
        });
        app.MapGrpcService<TranscodedService>();
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        int rpcPort = app.Services.GetRequiredService<RpcServerHost>().Server!.Endpoints[0].Port;
        Console.WriteLine($"PORTS {new Uri(address).Port} {rpcPort}");
        await Console.In.ReadToEndAsync();
        await app.StopAsync();
        return 0;
    }

    private static async Task BareAddAsync(Microsoft.AspNetCore.Http.HttpContext http)
    {
        System.IO.Pipelines.ReadResult read;
        while (!(read = await http.Request.BodyReader.ReadAsync()).IsCompleted)
        {
            http.Request.BodyReader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }

        var reader = new System.Text.Json.Utf8JsonReader(read.Buffer);
        int sum = 0;
        while (reader.Read())
        {
            if (reader.TokenType == System.Text.Json.JsonTokenType.Number)
            {
                sum += reader.GetInt32();
            }
        }

        http.Request.BodyReader.AdvanceTo(read.Buffer.End);
        http.Response.ContentType = "application/json";
        byte[] text = Encoding.ASCII.GetBytes(sum.ToString(CultureInfo.InvariantCulture));
        await http.Response.Body.WriteAsync(text);
    }

    private static Process StartServer(out int httpPort, out int rpcPort)
    {
        string self = Environment.ProcessPath!;
        var start = new ProcessStartInfo { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false, FileName = self };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(GatewayRunner).Assembly.Location);
        }

        start.ArgumentList.Add("gateway-serve");
        Process process = Process.Start(start)!;
        string line = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("The server process did not start.");
        string[] parts = line.Split(' ');
        httpPort = int.Parse(parts[1], CultureInfo.InvariantCulture);
        rpcPort = int.Parse(parts[2], CultureInfo.InvariantCulture);
        return process;
    }

    private static async Task<LoadRunner.Sample> MeasureHttpAsync(int port, string path, string body, int callers, double warmup, double seconds)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, UseCookies = false, UseProxy = false })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
        };
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        var json = new MediaTypeHeaderValue("application/json");
        var uri = new Uri(path, UriKind.Relative);
        return await LoadRunner.MeasureAsync(callers, warmup, seconds, async _ =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(bytes) };
            request.Content.Headers.ContentType = json;
            using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"POST {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        });
    }

    private static async Task<LoadRunner.Sample> MeasureDirectAsync(int port, string payload, int callers, double warmup, double seconds)
    {
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { new RpcEndpoint("127.0.0.1", port) } });
        IBench bench = client.CreateProxy<IBench>();
        IPayloadBench payloads = client.CreateProxy<IPayloadBench>();
        BenchRecord record = BenchRecord.Sample;
        return payload == "record"
            ? await LoadRunner.MeasureAsync(callers, warmup, seconds, _ => new ValueTask(payloads.EchoRecordAsync(record)))
            : await LoadRunner.MeasureAsync(callers, warmup, seconds, caller => new ValueTask(bench.AddAsync(caller, 1)));
    }

    private static void Add(Dictionary<(string, int), List<LoadRunner.Sample>> results, string system, int callers, LoadRunner.Sample sample)
    {
        if (!results.TryGetValue((system, callers), out List<LoadRunner.Sample>? list))
        {
            results[(system, callers)] = list = new List<LoadRunner.Sample>();
        }

        list.Add(sample);
    }

    private static string Report(
        Dictionary<(string System, int Callers), List<LoadRunner.Sample>> results, int[] levels, string payload,
        double warmup, double seconds, int repetitions)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Payload: {payload}. HTTP/1.1 + JSON on loopback, one connection per caller, server in a separate process; {warmup:0.#} s warm-up, " +
            $"{seconds:0.#} s measured, median of {repetitions} interleaved repetitions [min–max]; CPU = both processes ÷ calls; " +
            $"{Environment.ProcessorCount} cores, .NET {Environment.Version}.");
        text.AppendLine();
        text.AppendLine("| system | callers | calls/s [min–max] | p50 µs | p99 µs | CPU µs/call | ÷ bare Kestrel | ÷ minimal API | " +
            "÷ gRPC transcoding | ÷ raw multiplexed | ÷ gRPC-dotnet |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (int callers in levels)
        {
            double bare = Rate(results, "Kestrel, bare handler", callers);
            double minimal = Rate(results, "Minimal API", callers);
            double transcoding = Rate(results, "gRPC JSON transcoding", callers);
            double raw = Rate(results, "Raw multiplexed", callers);
            double grpc = Rate(results, "gRPC-dotnet", callers);
            foreach (string system in new[]
            {
                "RpcGen gateway", "Kestrel, bare handler", "Minimal API", "gRPC JSON transcoding", "RpcGen client (TCP, no gateway)",
                "Raw multiplexed", "gRPC-dotnet",
            })
            {
                if (!results.TryGetValue((system, callers), out List<LoadRunner.Sample>? samples))
                {
                    continue;
                }

                double rate = LoadRunner.Median(samples.Select(s => s.CallsPerSecond));
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {system} | {callers} | {rate:N0} [{samples.Min(s => s.CallsPerSecond):N0}–{samples.Max(s => s.CallsPerSecond):N0}] | " +
                    $"{LoadRunner.Median(samples.Select(s => s.P50)):0.0} | {LoadRunner.Median(samples.Select(s => s.P99)):0.0} | " +
                    $"{LoadRunner.Median(samples.Select(s => s.CpuMicrosecondsPerCall)):0.0} | {rate / bare:0.00} | {rate / minimal:0.00} | " +
                    $"{rate / transcoding:0.00} | {rate / raw:0.00} | {rate / grpc:0.00} |");
            }
        }

        if (results.TryGetValue(("RpcGen gateway", 1), out List<LoadRunner.Sample>? gateway) &&
            results.TryGetValue(("RpcGen client (TCP, no gateway)", 1), out List<LoadRunner.Sample>? direct))
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"Gateway overhead at 1 caller (p50 through the gateway − p50 of a direct RpcGen call): " +
                $"{LoadRunner.Median(gateway.Select(s => s.P50)) - LoadRunner.Median(direct.Select(s => s.P50)):0.0} µs");
        }

        return text.ToString();
    }

    private static double Rate(Dictionary<(string, int), List<LoadRunner.Sample>> results, string system, int callers) =>
        results.TryGetValue((system, callers), out List<LoadRunner.Sample>? samples)
            ? LoadRunner.Median(samples.Select(s => s.CallsPerSecond))
            : double.NaN;

    internal sealed record AddBody(int A, int B);

    private sealed class TranscodedService : TranscodedBench.TranscodedBenchBase
    {
        public override Task<SumReply> Sum(SumRequest request, ServerCallContext context) =>
            Task.FromResult(new SumReply { Sum = request.A + request.B });

        public override Task<Record> EchoRecord(Record request, ServerCallContext context) => Task.FromResult(request);
    }
}

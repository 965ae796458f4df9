using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace RpcGen.Tests.Support;

/// <summary>
/// A real Prometheus (Debian's prometheus package, which ./build.sh test installs) on a free loopback port with a
/// temporary data directory, scraping the given targets every second; its HTTP API answers the test's queries.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rpcgen-prometheus-").FullName;
    private readonly int _port = FreePort();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private Process? _process;

    private PrometheusServer()
    {
    }

    public Uri Url => new($"http://127.0.0.1:{_port}");

    /// <summary>Starts Prometheus with one job scraping <paramref name="targets"/> (host:port) every second.</summary>
    public static async Task<PrometheusServer> StartAsync(params string[] targets)
    {
        var server = new PrometheusServer();
        string config = Path.Combine(server._directory, "prometheus.yml");
        File.WriteAllText(config, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: rpcgen
                static_configs:
                  - targets: [{string.Join(", ", targets.Select(t => $"'{t}'"))}]
            """);
        string binary = File.Exists("/usr/bin/prometheus") ? "/usr/bin/prometheus" : "prometheus";
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in new[]
        {
            "--config.file=" + config, "--storage.tsdb.path=" + Path.Combine(server._directory, "data"),
            $"--web.listen-address=127.0.0.1:{server._port}", "--log.level=warn",
        })
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            server._process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException(
                "Prometheus is not installed: run ./build.sh test (installs it as root) or apt-get install prometheus.", ex);
        }

        server._process.OutputDataReceived += static (_, _) => { };
        server._process.ErrorDataReceived += static (_, _) => { };
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if ((await server._http.GetAsync(new Uri(server.Url, "/-/ready"))).IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                if (server._process.HasExited)
                {
                    throw new InvalidOperationException($"Prometheus exited with {server._process.ExitCode} at start.");
                }
            }

            if (waited.Elapsed > Wait.NoHang)
            {
                await server.DisposeAsync();
                throw new TimeoutException("Prometheus did not become ready within Wait.NoHang.");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Runs an instant query (PromQL) through the HTTP API; returns the <c>data.result</c> vector.</summary>
    public async Task<JsonElement[]> QueryAsync(string promql)
    {
        string body = await _http.GetStringAsync(new Uri(Url, "/api/v1/query?query=" + Uri.EscapeDataString(promql)));
        using JsonDocument answer = JsonDocument.Parse(body);
        if (answer.RootElement.GetProperty("status").GetString() != "success")
        {
            throw new InvalidOperationException($"Prometheus refused '{promql}': {body}");
        }

        return answer.RootElement.GetProperty("data").GetProperty("result").EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    /// <summary>Waits until <paramref name="promql"/> returns a series <paramref name="accept"/> takes.</summary>
    public async Task<JsonElement[]> WaitForAsync(string promql, Func<JsonElement[], bool> accept)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            JsonElement[] result = await QueryAsync(promql);
            if (accept(result))
            {
                return result;
            }

            if (waited.Elapsed > Wait.NoHang)
            {
                throw new TimeoutException($"Prometheus answered '{promql}' with [{string.Join(", ", result)}] for {Wait.NoHang.TotalSeconds:0} s.");
            }

            await Task.Delay(250);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // a file still held by the process as it died; the temp folder is cleaned eventually
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

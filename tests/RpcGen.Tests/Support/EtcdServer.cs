using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RpcGen.Etcd;

namespace RpcGen.Tests.Support;

/// <summary>
/// A real etcd (Debian's etcd-server, which ./build.sh test installs) on free loopback ports with a temporary data directory:
/// started by the test, stopped (killed) and restarted on the same ports and data on purpose, deleted at the end.
/// </summary>
public sealed class EtcdServer : IAsyncDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "rpcgen-etcd-" + Guid.NewGuid().ToString("n"));
    private readonly int _clientPort = FreePort();
    private readonly int _peerPort = FreePort();
    private Process? _process;

    public Uri Url => new($"http://127.0.0.1:{_clientPort}");

    public EtcdOptions Options(TimeSpan? retry = null) => new()
    {
        Servers = { Url },
        Prefix = "/rpcgen-test/" + Path.GetFileName(_data) + "/",
        RetryInterval = retry ?? TimeSpan.FromMilliseconds(200),
        RequestTimeout = TimeSpan.FromSeconds(2),
    };

    /// <summary>Ports and a data directory chosen, nothing running yet: etcd is down until <see cref="RestartAsync"/>.</summary>
    public static EtcdServer CreateStopped() => new();

    public static async Task<EtcdServer> StartAsync()
    {
        var server = new EtcdServer();
        await server.RestartAsync();
        return server;
    }

    /// <summary>Starts etcd (again, on the same ports and data directory) and waits until it answers.</summary>
    public async Task RestartAsync()
    {
        string binary = File.Exists("/usr/bin/etcd") ? "/usr/bin/etcd" : "etcd";
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in new[]
        {
            "--name", "rpcgen-test", "--data-dir", _data,
            "--listen-client-urls", $"http://127.0.0.1:{_clientPort}", "--advertise-client-urls", $"http://127.0.0.1:{_clientPort}",
            "--listen-peer-urls", $"http://127.0.0.1:{_peerPort}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{_peerPort}",
            "--initial-cluster", $"rpcgen-test=http://127.0.0.1:{_peerPort}", "--log-level", "error",
        })
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            _process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("etcd is not installed: run ./build.sh test (installs it as root) or sudo apt-get install etcd-server.", ex);
        }

        _process.OutputDataReceived += static (_, _) => { };
        _process.ErrorDataReceived += static (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if ((await http.GetAsync(new Uri(Url, "/health"))).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"etcd exited with {_process.ExitCode} at start.");
                }
            }

            if (waited.Elapsed > Wait.NoHang)
            {
                throw new TimeoutException("etcd did not become healthy within Wait.NoHang.");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Kills etcd (SIGKILL), as a crash would.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Never started.
        }
        catch (IOException)
        {
            // Left for the OS to clean.
        }
    }
}

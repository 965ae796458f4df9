using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace RpcGen.Tests.Support;

/// <summary>
/// A real Redis (Debian's redis-server, which ./build.sh test installs) on a free loopback port, without persistence,
/// in a temporary directory: started by the test, killed and deleted at the end.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rpcgen-redis-").FullName;
    private readonly Process _process;
    private bool _disposed;

    private RedisServer(int port, Process process)
    {
        Port = port;
        _process = process;
    }

    public int Port { get; }

    /// <summary>The StackExchange.Redis configuration string of this server.</summary>
    public string Configuration => $"127.0.0.1:{Port},abortConnect=false";

    public static async Task<RedisServer> StartAsync()
    {
        int port = FreePort();
        string binary = File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server" : "redis-server";
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        string portText = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (string argument in new[] { "--port", portText, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException(
                "Redis is not installed: run ./build.sh test (installs it as root) or sudo apt-get install redis-server.", ex);
        }

        var server = new RedisServer(port, process);
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port);
                NetworkStream stream = tcp.GetStream();
                await stream.WriteAsync("PING\r\n"u8.ToArray());
                byte[] reply = new byte[7];
                int read = await stream.ReadAsync(reply);
                if (read > 0 && reply[0] == (byte)'+')
                {
                    return server;
                }
            }
            catch (SocketException)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"redis-server exited with {process.ExitCode} at start.");
                }
            }

            if (waited.Elapsed > Wait.NoHang)
            {
                await server.DisposeAsync();
                throw new TimeoutException("redis-server did not answer PING within Wait.NoHang.");
            }

            await Task.Delay(20);
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
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Left for the machine's cleanup.
        }
    }
}

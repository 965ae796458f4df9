using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace RpcGen.Tests.Support;

/// <summary>
/// A real dnsmasq (Debian's dnsmasq-base, which ./build.sh test installs) answering for a test zone on a free loopback port: records from
/// an extra hosts file (re-read on SIGHUP) and SRV options (a restart changes them), a 1 s TTL, nothing forwarded.
/// </summary>
public sealed class DnsmasqServer : IAsyncDisposable
{
    private readonly string _hosts = Path.Combine(Path.GetTempPath(), "rpcgen-dns-" + Guid.NewGuid().ToString("n") + ".hosts");
    private Process? _process;
    private string[] _srv = Array.Empty<string>();

    public int Port { get; private set; } = FreePort();

    public IPEndPoint NameServer => new(IPAddress.Loopback, Port);

    /// <summary>Starts dnsmasq with these hosts lines ("127.0.0.1 calc.rpcgen.test") and SRV options ("_rpc._tcp.x,target,port,priority,weight").</summary>
    public static async Task<DnsmasqServer> StartAsync(IEnumerable<string> hosts, IEnumerable<string>? srv = null)
    {
        var server = new DnsmasqServer();
        await File.WriteAllLinesAsync(server._hosts, hosts);
        server._srv = srv?.ToArray() ?? Array.Empty<string>();
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await server.RestartAsync();
                return server;
            }
            catch (InvalidOperationException) when (attempt < 5 && server._process is { HasExited: true })
            {
                // dnsmasq binds TCP and UDP: a port free for both when chosen may be taken by the time it starts (by
                // another test's listener); nothing has used this one yet, so another will do.
                server.Port = FreePort();
            }
        }
    }

    /// <summary>Replaces the hosts file and tells dnsmasq to read it again (SIGHUP).</summary>
    public async Task SetHostsAsync(IEnumerable<string> hosts)
    {
        await File.WriteAllLinesAsync(_hosts, hosts);
        using Process hup = Process.Start("kill", new[] { "-HUP", _process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) })!;
        await hup.WaitForExitAsync();
    }

    /// <summary>Stops dnsmasq and starts it again with <paramref name="srv"/> (or the same SRV records), on the same port.</summary>
    public async Task RestartAsync(IEnumerable<string>? srv = null)
    {
        await StopAsync();
        _srv = srv?.ToArray() ?? _srv;
        var start = new ProcessStartInfo(File.Exists("/usr/sbin/dnsmasq") ? "/usr/sbin/dnsmasq" : "dnsmasq") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string argument in new[]
        {
            "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll", "--pid-file=",
            "--user=root", "--bind-interfaces", "--listen-address=127.0.0.1", $"--port={Port}", "--local-ttl=1",
            $"--addn-hosts={_hosts}", "--local=/rpcgen.test/",
        }.Concat(_srv.Select(static s => "--srv-host=" + s)))
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            _process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("dnsmasq is not installed: run ./build.sh test (installs it as root) or sudo apt-get install dnsmasq-base.", ex);
        }

        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Task.Delay(200); // dnsmasq binds at once; give it a moment
        if (_process.HasExited)
        {
            throw new InvalidOperationException($"dnsmasq exited with {_process.ExitCode} at start.");
        }
    }

    public async Task StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    /// <summary>A loopback port free for both TCP and UDP right now (dnsmasq listens on both).</summary>
    private static int FreePort()
    {
        while (true)
        {
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            int port = ((IPEndPoint)tcp.LocalEndPoint!).Port;
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
                // Taken for UDP: try another.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        File.Delete(_hosts);
    }
}

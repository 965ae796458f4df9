using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RpcGen.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RpcGen.Tests.Streaming;

public sealed record FeedEvent(long Offset, string Text);

/// <summary>The sample's resumable feed (sample/RpcGen.Sample/Streaming/EventFeed.cs), as a client of its processes sees it.</summary>
[RpcService("event-feed")]
public interface IEventFeed
{
    [Resumable(nameof(FeedEvent.Offset))]
    IAsyncEnumerable<FeedEvent> TailAsync(string topic, [ResumeFrom] long? after, int intervalMs, CancellationToken ct = default);
}

/// <summary>
/// Resumable streams against real server processes killed with SIGKILL (no goodbye, connections reset by the kernel)
/// and restarted: 16 streams, 20 kills at random points, every position delivered once and in order, each break
/// bridged within a second.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class ResumableChaosTests
{
    private readonly ITestOutputHelper _output;

    public ResumableChaosTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task ServerProcessesKilledMidStream_EveryPositionOnceInOrder_EachBreakBridgedWithinASecond()
    {
        string sample = Path.Combine(TestPaths.RepositoryRoot, "sample", "RpcGen.Sample", "bin", "Release", "net10.0", "RpcGen.Sample.dll");
        Assert.True(File.Exists(sample), $"{sample} is missing: build the solution in Release first.");
        int[] ports = { FreePort(), FreePort(), FreePort() };
        var processes = new Process?[ports.Length];
        try
        {
            for (int i = 0; i < ports.Length; i++)
            {
                processes[i] = await StartAsync(sample, ports[i]);
            }

            var options = new RpcClientOptions();
            foreach (int port in ports)
            {
                options.Endpoints.Add(new RpcEndpoint("127.0.0.1", port));
            }

            await using var client = new RpcClient(options);
            IEventFeed feed = client.CreateProxy<IEventFeed>();
            using var stop = new CancellationTokenSource();
            var received = new List<long>[16];
            var longestGap = new TimeSpan[16];
            var gapEndedAt = new TimeSpan[16];
            long t0 = Stopwatch.GetTimestamp();
            var kills = new List<string>();
            bool chaos = false;
            Task[] readers = Enumerable.Range(0, 16).Select(s => Task.Run(async () =>
            {
                var offsets = received[s] = new List<long>();
                long last = Stopwatch.GetTimestamp();
                try
                {
                    await foreach (FeedEvent e in feed.TailAsync("topic-" + s, null, intervalMs: 10, stop.Token))
                    {
                        long now = Stopwatch.GetTimestamp();
                        TimeSpan gap = Stopwatch.GetElapsedTime(last, now);
                        if (offsets.Count > 0 && Volatile.Read(ref chaos) && gap > longestGap[s])
                        {
                            longestGap[s] = gap;
                            gapEndedAt[s] = Stopwatch.GetElapsedTime(t0, now);
                        }

                        last = now;
                        offsets.Add(e.Offset);
                        Assert.Equal("topic-" + s + "#" + e.Offset, e.Text);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
            })).ToArray();

            await Wait.UntilAsync(() => received.All(r => r is { Count: > 20 }), "every stream to start");
            await Task.Delay(2500); // past the start-up of the three fresh processes (see the test's output for gaps then)
            Volatile.Write(ref chaos, true);
            var random = new Random(20261206);
            for (int kill = 0; kill < 20; kill++)
            {
                await Task.Delay(random.Next(100, 400));
                int victim = random.Next(ports.Length);
                kills.Add($"{Stopwatch.GetElapsedTime(t0).TotalMilliseconds:0}:{victim}");
                processes[victim]!.Kill(); // SIGKILL
                await processes[victim]!.WaitForExitAsync();
                processes[victim]!.Dispose();

                // Its streams resume on the other two now; the restart (a new process's start-up, which takes both
                // cores of the test machine for a moment) comes after, as an orchestrator's would.
                await Task.Delay(250);
                processes[victim] = await StartAsync(sample, ports[victim]);
            }

            await Task.Delay(300);
            stop.Cancel();
            await Task.WhenAll(readers).WaitAsync(Wait.NoHang);

            for (int s = 0; s < 16; s++)
            {
                List<long> offsets = received[s];
                Assert.Equal(Enumerable.Range(1, offsets.Count).Select(i => (long)i), offsets); // each position once, in order
            }

            TimeSpan worst = longestGap.Max();
            for (int s = 0; s < 16; s++)
            {
                _output.WriteLine($"stream {s}: longest gap {longestGap[s].TotalMilliseconds:0} ms, ended at {gapEndedAt[s].TotalMilliseconds:0} ms");
            }

            _output.WriteLine("kills: " + string.Join(" ", kills));
            _output.WriteLine(
                $"20 kills; {received.Sum(r => r.Count)} events over 16 streams; the longest gap between two events: {worst.TotalMilliseconds:0} ms");
            Assert.True(worst < TimeSpan.FromSeconds(1), $"a break took {worst.TotalMilliseconds:0} ms to bridge");
        }
        finally
        {
            foreach (Process? process in processes)
            {
                if (process is { HasExited: false })
                {
                    process.Kill();
                }

                process?.Dispose();
            }
        }
    }

    private static async Task<Process> StartAsync(string sample, int port)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(sample);
        start.ArgumentList.Add("serve-events");
        start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Process process = Process.Start(start)!;
        string? line = await process.StandardOutput.ReadLineAsync().WaitAsync(Wait.NoHang);
        Assert.Equal($"ready {port}", line);
        return process;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Gateway;

/// <summary>
/// A real headless Chromium (Debian's) loads a page that calls the gateway with fetch and follows a resumable stream
/// with an EventSource; the server stops and starts again on the same port, and the page's stream goes on after the
/// last event it received, with no gap and no repeat.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class GatewayBrowserTests
{
    private const string Page = """
        <!doctype html>
        <html><body><pre id="log">starting</pre><script>
        const state = { total: null, ids: [], opens: 0, errors: 0 };
        async function report() {
          document.getElementById('log').textContent = JSON.stringify(state);
          const body = JSON.stringify(state);
          try { await fetch('/report', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body }); } catch { }
        }
        (async () => {
          const bought = await fetch('/store/Buy', { method: 'POST', headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ order: { sku: 'pen', quantity: 4 } }) });
          state.total = (await bought.json()).total;
          const ticker = new EventSource('/store/Ticker?intervalMs=100');
          ticker.onopen = () => state.opens++;
          ticker.onerror = () => state.errors++;
          ticker.onmessage = e => state.ids.push(Number(e.lastEventId));
          setInterval(report, 150);
        })();
        </script></body></html>
        """;

    [Fact]
    public async Task FetchAndAnEventSource_SurviveAServerRestart_WithoutAGapOrARepeat()
    {
        string browser = Chromium.Path;
        int port = FreePort();
        var reports = new Reports();
        void Map(WebApplication app)
        {
            RpcGen.AspNetCore.RpcGatewayEndpointRouteBuilderExtensions.MapRpcGateway<IStore>(app);
            app.MapGet("/page", (HttpContext http) => Results.Content(Page, "text/html"));
            app.MapPost("/report", async (HttpContext http) =>
            {
                using JsonDocument state = await JsonDocument.ParseAsync(http.Request.Body);
                reports.Update(state.RootElement.Clone());
                return Results.NoContent();
            });
        }

        var first = new Store();
        GatewayApp app = await GatewayApp.StartAsync(Map, first, port);
        string profile = Directory.CreateTempSubdirectory("rpcgen-chromium-").FullName;
        var start = new ProcessStartInfo(browser) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in new[]
        {
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
            "--user-data-dir=" + profile, $"http://127.0.0.1:{port}/page",
        })
        {
            start.ArgumentList.Add(argument);
        }

        using Process chromium = Process.Start(start)!;
        _ = chromium.StandardOutput.ReadToEndAsync();
        _ = chromium.StandardError.ReadToEndAsync();
        try
        {
            JsonElement before = await reports.WaitAsync(r => r.GetProperty("ids").GetArrayLength() >= 5, TimeSpan.FromSeconds(60));
            Assert.Equal(10m, before.GetProperty("total").GetDecimal());

            // The server goes away under the open stream and comes back on the same port, as a restarted server does.
            await app.DisposeAsync();
            var second = new Store();
            app = await GatewayApp.StartAsync(Map, second, port);

            int seen = reports.Latest.GetProperty("ids").GetArrayLength();
            JsonElement after = await reports.WaitAsync(
                r => r.GetProperty("opens").GetInt32() >= 2 && r.GetProperty("ids").GetArrayLength() >= seen + 5, TimeSpan.FromSeconds(60));
            long[] ids = after.GetProperty("ids").EnumerateArray().Select(i => i.GetInt64()).ToArray();
            Assert.Equal(Enumerable.Range(1, ids.Length).Select(i => (long)i), ids); // every position once, in order, across the restart
            long? resumedFrom = second.TickerFrom.First();
            Assert.NotNull(resumedFrom); // the browser sent Last-Event-ID, and the gateway passed it as [ResumeFrom]
            Assert.InRange(resumedFrom!.Value, 5, ids.Length);
            Assert.Equal(new long?[] { null }, first.TickerFrom);
        }
        finally
        {
            chromium.Kill(entireProcessTree: true);
            await chromium.WaitForExitAsync();
            await app.DisposeAsync();
            Directory.Delete(profile, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>What the page reported last, and a wait for a report that satisfies a condition.</summary>
    private sealed class Reports
    {
        private readonly object _lock = new();
        private JsonElement _latest;
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public JsonElement Latest
        {
            get
            {
                lock (_lock)
                {
                    return _latest;
                }
            }
        }

        public void Update(JsonElement state)
        {
            TaskCompletionSource changed;
            lock (_lock)
            {
                _latest = state;
                changed = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            changed.TrySetResult();
        }

        public async Task<JsonElement> WaitAsync(Func<JsonElement, bool> condition, TimeSpan timeout)
        {
            using var deadline = new CancellationTokenSource(timeout);
            while (true)
            {
                Task changed;
                lock (_lock)
                {
                    if (_latest.ValueKind == JsonValueKind.Object && condition(_latest))
                    {
                        return _latest;
                    }

                    changed = _changed.Task;
                }

                try
                {
                    await changed.WaitAsync(deadline.Token);
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException($"The page never reported what the test waits for; its last report: {Latest}");
                }
            }
        }
    }
}

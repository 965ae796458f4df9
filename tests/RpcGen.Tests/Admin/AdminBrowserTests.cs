using System.Diagnostics;
using System.Net;
using PuppeteerSharp;
using RpcGen.Admin;
using RpcGen.Admin.Internal;
using RpcGen.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RpcGen.Tests.Admin;

/// <summary>
/// The admin page in a real headless Chromium (Debian's, driven over the DevTools protocol by PuppeteerSharp) while a
/// client calls three servers under load: one server is stopped abruptly (its sockets reset, as a killed process's
/// are), the page shows it ejected with the reason, then back once a server listens on its port again. Each view is
/// screenshotted; with RPCGEN_UPDATE_SCREENSHOTS=1 the pictures replace docs/images/admin-*.png.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class AdminBrowserTests : IAsyncLifetime
{
    private readonly ITestOutputHelper _output;
    private readonly string _shots = Directory.CreateTempSubdirectory("rpcgen-admin-shots-").FullName;

    public AdminBrowserTests(ITestOutputHelper output) => _output = output;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        AdminWatch.Default.StopForTests();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task TheClientsPageShowsAKilledServerEjected_ThenBackAfterItRestarts()
    {
        var servers = new RpcServer?[3];
        var ports = new int[3];
        for (int i = 0; i < servers.Length; i++)
        {
            servers[i] = await StartServerAsync(0, i);
            ports[i] = servers[i]!.Endpoints[0].Port;
        }

        var options = new RpcClientOptions { Name = "checkout" };
        foreach (int port in ports)
        {
            options.Endpoints.Add(new RpcEndpoint("127.0.0.1", port));
        }

        options.Balancing.OutlierDetection.ConsecutiveFailures = 3;
        options.Balancing.OutlierDetection.BaseEjectionTime = TimeSpan.FromSeconds(60);
        options.Connection.ReconnectBackoff = TimeSpan.FromMilliseconds(100);
        options.Connection.MaxReconnectBackoff = TimeSpan.FromMilliseconds(500);
        await using var client = new RpcClient(options);
        await using RpcAdminListener admin = RpcAdminListener.Start();
        var calculator = client.CreateProxy<ICalculator>();
        using var stop = new CancellationTokenSource();
        long calls = 0, failures = 0;
        Task[] load = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await calculator.AddAsync(1, 2, stop.Token);
                    Interlocked.Increment(ref calls);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failures);
                    await Task.Delay(5);
                }
            }
        })).ToArray();

        string victim = $"127.0.0.1:{ports[1]}";
        await using IBrowser browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = Chromium.Path,
            Headless = true,
            Args = new[] { "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions" },
            DefaultViewport = new ViewPortOptions { Width = 1440, Height = 900 },
        });
        await using IPage page = await browser.NewPageAsync();
        try
        {
            await page.GoToAsync(new Uri(admin.Address, "#clients").ToString());
            await UntilAsync(page, $"() => document.querySelectorAll('{Client} tr[data-state=\"ready\"]').length === 3", "three ready endpoints");
            await Task.Delay(1500); // a few refreshes: picks/s and percentiles filled in
            await ShotAsync(page, "clients-ready");

            var killed = Stopwatch.StartNew();
            await servers[1]!.DisposeAsync();
            servers[1] = null;
            await UntilAsync(page, $"() => {Row(victim)}?.dataset.state === 'ejected'", "the ejection on the page");
            TimeSpan shown = killed.Elapsed;
            _output.WriteLine(
                $"ejection shown {shown.TotalMilliseconds:0} ms after the stop ({Interlocked.Read(ref calls)} calls, {Interlocked.Read(ref failures)} failed)");
            string why = await page.EvaluateExpressionAsync<string>($"{Row(victim)}.cells[2].textContent");
            Assert.Contains("3 consecutive failures", why);
            await ShotAsync(page, "clients-ejected");

            await ShowAsync(page, "servers", "() => document.querySelectorAll('section[data-server]').length >= 2 && " +
                "document.querySelector('tr[data-store=memory] .badge.healthy') !== null"); // each server's deduplication store and its health
            await ShotAsync(page, "servers");
            await ShowAsync(page, "methods", "() => document.querySelector('tr[data-method=\"client:calc/Add\"]') !== null");
            await ShotAsync(page, "methods");
            await ShowAsync(
                page, "events", $"() => [...document.querySelectorAll('tr[data-kind=ejected]')].some(r => r.textContent.includes('{victim}'))");
            await ShotAsync(page, "events");

            await ShowAsync(page, "clients", $"() => document.querySelector('{Client}') !== null");
            servers[1] = await StartServerAsync(ports[1], 1);
            var restarted = Stopwatch.StartNew();
            await UntilAsync(page, $"() => {Row(victim)}?.dataset.state === 'ready'", "the endpoint back on the page");
            _output.WriteLine($"re-admission shown {restarted.ElapsedMilliseconds} ms after the restart");
            long before = Interlocked.Read(ref calls);
            await Wait.UntilAsync(() => Interlocked.Read(ref calls) > before + 100, "calls going on after the restart");
        }
        catch (Exception)
        {
            await ShotAsync(page, "failure");
            _output.WriteLine($"screenshots in {_shots}");
            throw;
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(load);
            foreach (RpcServer? server in servers)
            {
                if (server is not null)
                {
                    await server.DisposeAsync();
                }
            }
        }

        if (Environment.GetEnvironmentVariable("RPCGEN_UPDATE_SCREENSHOTS") == "1")
        {
            string docs = Path.Combine(TestPaths.RepositoryRoot, "docs", "images");
            Directory.CreateDirectory(docs);
            foreach (string name in new[] { "clients-ejected", "servers", "methods", "events" })
            {
                File.Copy(Path.Combine(_shots, name + ".png"), Path.Combine(docs, $"admin-{name}.png"), overwrite: true);
            }
        }
    }

    private const string Client = "section[data-client=checkout]";

    /// <summary>The page's row of an endpoint of the client, as a JavaScript expression.</summary>
    private static string Row(string endpoint) => $"document.querySelector('{Client} tr[data-endpoint=\"{endpoint}\"]')";

    private static async Task<RpcServer> StartServerAsync(int port, int index)
    {
        var options = new RpcServerOptions();
        options.Listen.Add(new IPEndPoint(IPAddress.Loopback, port));
        var server = new RpcServer(options);
        server.Map<ICalculator>(new Calculator($"server-{index}"));
        await server.StartAsync();
        return server;
    }

    private static async Task ShowAsync(IPage page, string view, string ready)
    {
        await page.EvaluateExpressionAsync($"location.hash = '{view}'");
        await UntilAsync(page, ready, $"the {view} view");
    }

    private static async Task UntilAsync(IPage page, string condition, string what)
    {
        try
        {
            var options = new WaitForFunctionOptions { Timeout = (int)Wait.NoHang.TotalMilliseconds, PollingInterval = 50 };
            await page.WaitForFunctionAsync(condition, options);
        }
        catch (WaitTaskTimeoutException ex)
        {
            throw new TimeoutException($"The page never showed {what}.", ex);
        }
    }

    private Task ShotAsync(IPage page, string name) =>
        page.ScreenshotAsync(Path.Combine(_shots, name + ".png"), new ScreenshotOptions { FullPage = true });
}

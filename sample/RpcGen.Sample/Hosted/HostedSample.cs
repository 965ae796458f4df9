// The hosted variant (dotnet run --project sample/RpcGen.Sample -c Release -- hosted): two services in generic hosts,
// wired by RpcGen.Hosting, traced and measured by the OpenTelemetry SDK with its console exporter. A client calls
// service A ("orders"), whose handler calls service B ("stock"): the console shows the spans of both hops with one
// trace id, then the call metrics.
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using RpcGen;
using RpcGen.Hosting;
using RpcGen.Telemetry;

namespace Sample.Hosted;

[RpcService("stock")]
public interface IStock
{
    Task<int> AvailableAsync(string sku, CancellationToken ct = default);
}

[RpcService("orders")]
public interface IOrders
{
    Task<string> PlaceAsync(string sku, int quantity, CancellationToken ct = default);
}

public sealed class Stock : IStock
{
    public Task<int> AvailableAsync(string sku, CancellationToken ct = default) => Task.FromResult(sku.Length * 10);
}

/// <summary>Service A: resolved per call from DI, with the client of service B injected.</summary>
public sealed class Orders(IStock stock) : IOrders
{
    public async Task<string> PlaceAsync(string sku, int quantity, CancellationToken ct = default)
    {
        int available = await stock.AvailableAsync(sku, ct); // a child span of this call's server span
        return available >= quantity ? $"placed {quantity} x {sku} (trace {Activity.Current?.TraceId})" : $"only {available} of {sku}";
    }
}

public static class HostedSample
{
    private static HostApplicationBuilder Builder(string name, bool exportTelemetry = false)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = name });
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        if (exportTelemetry)
        {
            // The three hosts share this process, and an ActivitySource listener sees every span of the process: one
            // provider exports them all once. In production each service registers its own, with the same two lines.
            builder.Services.AddOpenTelemetry()
                .WithTracing(tracing => tracing.AddSource(RpcGenTracing.SourceName).AddConsoleExporter())
                .WithMetrics(metrics => metrics.AddMeter(RpcGenMetrics.MeterName).AddConsoleExporter());
        }

        return builder;
    }

    public static async Task<int> RunAsync(bool serve = false)
    {
        // Service B: a hosted server on a free port.
        HostApplicationBuilder b = Builder("stock");
        b.Configuration["RpcGen:Server:Listen:0"] = "127.0.0.1:0";
        b.Services.AddRpcServer().MapService<IStock, Stock>(ServiceLifetime.Singleton);
        using IHost hostB = b.Build();
        await hostB.StartAsync();
        string addressB = hostB.Services.GetRequiredService<RpcServerHost>().Server!.Endpoints[0].ToString();

        // Service A: serves IOrders, and calls B through a client configured like any other setting.
        HostApplicationBuilder a = Builder("orders");
        a.Configuration["RpcGen:Server:Listen:0"] = "127.0.0.1:0";
        a.Configuration["RpcGen:Clients:stock:Endpoints:0"] = addressB;
        a.Services.AddRpcServer().MapService<IOrders, Orders>(); // a DI scope per call
        a.Services.AddRpcClient<IStock>();
        a.Services.AddHealthChecks().AddRpcHealthChecks();
        using IHost hostA = a.Build();
        await hostA.StartAsync();
        string addressA = hostA.Services.GetRequiredService<RpcServerHost>().Server!.Endpoints[0].ToString();

        // The caller: a client host with the endpoint of A from configuration.
        HostApplicationBuilder c = Builder("caller", exportTelemetry: true);
        c.Configuration["RpcGen:Clients:orders:Endpoints:0"] = addressA;
        c.Services.AddRpcClient<IOrders>();
        // The admin page of this process's clients and servers (docs/admin.md), on 127.0.0.1 only.
        c.Services.AddRpcAdmin(o => o.Port = serve ? 5090 : 0);
        using IHost caller = c.Build();
        await caller.StartAsync();

        string placed = await caller.Services.GetRequiredService<IOrders>().PlaceAsync("widget", 3);
        Console.WriteLine($"hosted: {placed}");
        Uri admin = caller.Services.GetRequiredService<RpcAdminHost>().Address!;
        using (var http = new HttpClient())
        {
            using JsonDocument clients = JsonDocument.Parse(await http.GetStringAsync(new Uri(admin, "api/clients")));
            Console.WriteLine($"hosted: admin page at {admin} lists {clients.RootElement.GetProperty("clients").GetArrayLength()} clients");
        }

        if (serve)
        {
            // Calls every 50 ms so the page has something to show, until Ctrl+C.
            Console.WriteLine($"hosted: open {admin} in a browser; Ctrl+C stops");
            using var stop = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
            IOrders orders = caller.Services.GetRequiredService<IOrders>();
            while (!stop.IsCancellationRequested)
            {
                await orders.PlaceAsync("widget", 1);
                await Task.Delay(50, stop.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
        }

        HealthReport health = await hostA.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Console.WriteLine($"hosted: service A health {health.Status} ({string.Join(", ", health.Entries.Select(e => $"{e.Key} {e.Value.Status}"))})");

        // Stopping drains each server; the metric reader exports once more as the caller's host is disposed.
        await caller.StopAsync();
        await hostA.StopAsync();
        await hostB.StopAsync();
        return placed.StartsWith("placed 3 x widget", StringComparison.Ordinal) && health.Status == HealthStatus.Healthy ? 0 : 1;
    }
}

using System.Globalization;
using System.Text.Json;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Observability;

/// <summary>
/// The RpcGen meter as operators read it: this process exports through OpenTelemetry's Prometheus HttpListener
/// exporter, a real Prometheus (Debian's) scrapes it every second, and the test asks Prometheus' HTTP API the questions
/// of docs/observability.md: p99 per method from the call-duration histogram, and the balancer's gauges per endpoint
/// with their labels. Serial: the meter provider listens to the whole process.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class PrometheusTests
{
    [Fact]
    public async Task PrometheusScrapesTheCallHistogramsAndTheBalancerGaugesPerEndpoint()
    {
        int exporterPort = PrometheusServer.FreePort();
        using MeterProvider meters = Sdk.CreateMeterProviderBuilder()
            .AddMeter(RpcGenMetrics.MeterName)
            .AddPrometheusHttpListener(o =>
            {
                o.Host = "127.0.0.1";
                o.Port = exporterPort;
            })
            .Build();
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(2);
        await using RpcClient client = cluster.CreateClient(o => o.Name = "prometheus-test");
        var calculator = client.CreateProxy<ICalculator>();
        await using PrometheusServer prometheus = await PrometheusServer.StartAsync($"127.0.0.1:{exporterPort}");

        using var stop = new CancellationTokenSource();
        Task load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await calculator.AddAsync(1, 2);
                await calculator.MultiplyAsync(3, 4);
                await Task.Delay(2);
            }
        });
        try
        {
            // The query docs/observability.md gives for "which method is slow".
            const string P99 =
                "histogram_quantile(0.99, sum by (le, rpc_method) (rate(rpc_client_call_duration_seconds_bucket{rpc_service=\"calc\"}[1m])))";
            JsonElement[] p99 = await prometheus.WaitForAsync(P99, r => r.Count(s => Value(s) is > 0 and < 10) == 2);
            Assert.Equal(
                new[] { "Add", "mul" }, p99.Select(s => s.GetProperty("metric").GetProperty("rpc_method").GetString()).Order(StringComparer.Ordinal));

            JsonElement[] served = await prometheus.WaitForAsync(
                "sum by (rpc_method) (rate(rpc_server_call_duration_seconds_count{rpc_service=\"calc\"}[1m]))",
                r => r.Length == 2 && r.All(s => Value(s) > 0));
            Assert.Equal(2, served.Length);

            string[] ports = cluster.Servers.Select(s => s.Endpoints[0].Port.ToString(CultureInfo.InvariantCulture)).Order().ToArray();
            string[] gauges = { "rpcgen_client_endpoint_in_flight", "rpcgen_client_endpoint_ejected", "rpcgen_client_endpoint_latency_ewma_seconds" };
            foreach (string gauge in gauges)
            {
                JsonElement[] series = await prometheus.WaitForAsync($"{gauge}{{rpcgen_client_name=\"prometheus-test\"}}", r => r.Length == 2);
                Assert.All(series, s => Assert.Equal("127.0.0.1", s.GetProperty("metric").GetProperty("server_address").GetString()));
                Assert.Equal(ports, series.Select(s => s.GetProperty("metric").GetProperty("server_port").GetString()!).Order().ToArray());
            }

            JsonElement[] ejected = await prometheus.QueryAsync("rpcgen_client_endpoint_ejected{rpcgen_client_name=\"prometheus-test\"}");
            Assert.All(ejected, s => Assert.Equal(0, Value(s)));

            // Every query of the Grafana dashboard docs/observability.md ships is valid PromQL over these names, and
            // those about calls and endpoints have data (the others count events this test does not cause).
            string file = Path.Combine(TestPaths.RepositoryRoot, "docs", "grafana", "rpcgen-dashboard.json");
            using JsonDocument dashboard = JsonDocument.Parse(File.ReadAllText(file));
            int withData = 0, queries = 0;
            foreach (JsonElement panel in dashboard.RootElement.GetProperty("panels").EnumerateArray())
            {
                foreach (JsonElement target in panel.GetProperty("targets").EnumerateArray())
                {
                    string expr = target.GetProperty("expr").GetString()!.Replace("$__rate_interval", "1m", StringComparison.Ordinal);
                    queries++;
                    if ((await prometheus.QueryAsync(expr)).Length > 0)
                    {
                        withData++;
                    }
                }
            }

            Assert.True(withData >= 6, $"{withData} of the dashboard's {queries} queries have data; the six about calls and endpoints must");
        }
        finally
        {
            stop.Cancel();
            await load;
        }
    }

    private static double Value(JsonElement sample) =>
        double.Parse(sample.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
}

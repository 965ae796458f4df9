// Scenario "gateway": the same service over RpcGen's TCP protocol and over HTTP/JSON (RpcGen.AspNetCore), called here
// with a plain HttpClient as curl or a browser would: a POST with named arguments, a GET, an error, and a resumable
// stream as Server-Sent Events that goes on after the last event id it saw. "-- gateway serve" keeps it running so you
// can try the printed curl commands yourself (Ctrl+C stops it).
using System.Net;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RpcGen;
using RpcGen.AspNetCore;

namespace Sample.Gateway;

public sealed record Level(string Sku, int Available);

public sealed record Change(long Position, string Sku, int Available);

[RpcService("stock")]
public interface IStock
{
    /// <summary>How many of <paramref name="sku"/> are left; reads only, so the gateway serves it on GET too.</summary>
    [NoSideEffects]
    Task<Level> LevelAsync(string sku, CancellationToken ct = default);

    /// <summary>Takes <paramref name="quantity"/> of <paramref name="sku"/>; NotFound for an unknown one.</summary>
    Task<Level> ReserveAsync(string sku, int quantity, CancellationToken ct = default);

    /// <summary>The stock's changes after <paramref name="after"/>, every 50 ms, without end.</summary>
    [NoSideEffects, Resumable]
    IAsyncEnumerable<Change> ChangesAsync(string sku, [ResumeFrom] long? after, CancellationToken ct = default);
}

public sealed class Stock : IStock
{
    private int _pens = 12;

    public Task<Level> LevelAsync(string sku, CancellationToken ct = default) => Task.FromResult(new Level(sku, Find(sku)));

    public Task<Level> ReserveAsync(string sku, int quantity, CancellationToken ct = default)
    {
        Find(sku);
        return Task.FromResult(new Level(sku, Interlocked.Add(ref _pens, -quantity)));
    }

    public async IAsyncEnumerable<Change> ChangesAsync(string sku, long? after, [EnumeratorCancellation] CancellationToken ct = default)
    {
        Find(sku);
        for (long position = (after ?? 0) + 1; ; position++)
        {
            await Task.Delay(50, ct);
            yield return new Change(position, sku, 12 - (int)(position % 5));
        }
    }

    private int Find(string sku) =>
        sku == "pen" ? Volatile.Read(ref _pens) : throw new RpcException(RpcStatusCode.NotFound, $"No such item: '{sku}'.");
}

public static class GatewayScenario
{
    /// <summary>Runs the scenario on loopback; true when everything behaved as documented.</summary>
    public static async Task<bool> RunAsync() => await RunAsync(serve: false);

    public static async Task<bool> RunAsync(bool serve)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, serve ? 5080 : 0));
        builder.Logging.ClearProviders();
        builder.Services.AddRpcServer().MapService<IStock, Stock>(ServiceLifetime.Singleton); // TCP on 127.0.0.1, any free port
        WebApplication app = builder.Build();
        app.MapRpcGateway<IStock>();                                                          // and HTTP/JSON, in process
        await app.StartAsync();
        string url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Console.WriteLine($"gateway on {url}");
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        bool ok = true;

        Console.WriteLine($"$ curl -d '{{\"sku\":\"pen\",\"quantity\":2}}' -H 'Content-Type: application/json' {url}/stock/Reserve");
        using (HttpResponseMessage reserved = await http.PostAsync("/stock/Reserve", Json("{\"sku\":\"pen\",\"quantity\":2}")))
        {
            string body = await reserved.Content.ReadAsStringAsync();
            Console.WriteLine($"  {(int)reserved.StatusCode} {body}");
            ok &= reserved.StatusCode == HttpStatusCode.OK && body == "{\"sku\":\"pen\",\"available\":10}";
        }

        Console.WriteLine($"$ curl '{url}/stock/Level?sku=pen'");
        string level = await http.GetStringAsync("/stock/Level?sku=pen");
        Console.WriteLine($"  200 {level}");
        ok &= level == "{\"sku\":\"pen\",\"available\":10}";

        Console.WriteLine($"$ curl -d '{{\"sku\":\"ink\",\"quantity\":\"two\"}}' -H 'Content-Type: application/json' {url}/stock/Reserve");
        using (HttpResponseMessage bad = await http.PostAsync("/stock/Reserve", Json("{\"sku\":\"ink\",\"quantity\":\"two\"}")))
        {
            string body = await bad.Content.ReadAsStringAsync();
            Console.WriteLine($"  {(int)bad.StatusCode} {body}");
            ok &= bad.StatusCode == HttpStatusCode.BadRequest && body.Contains("argument 'quantity'", StringComparison.Ordinal);
        }

        using (HttpResponseMessage missing = await http.GetAsync("/stock/Level?sku=ink"))
        {
            string body = await missing.Content.ReadAsStringAsync();
            Console.WriteLine($"$ curl '{url}/stock/Level?sku=ink'\n  {(int)missing.StatusCode} {body}");
            ok &= missing.StatusCode == HttpStatusCode.NotFound && body.StartsWith("{\"code\":\"not_found\"", StringComparison.Ordinal);
        }

        // A stream as Server-Sent Events: three events, then (as a browser's EventSource does after a break) a new request
        // with Last-Event-ID, which the gateway passes as the [ResumeFrom] argument: the stream goes on after event 3.
        Console.WriteLine($"$ curl -N -H 'Accept: text/event-stream' '{url}/stock/Changes?sku=pen'");
        List<string?> ids = await ReadEventsAsync(http, lastEventId: null);
        Console.WriteLine($"$ curl -N -H 'Accept: text/event-stream' -H 'Last-Event-ID: 3' '{url}/stock/Changes?sku=pen'");
        ids.AddRange(await ReadEventsAsync(http, lastEventId: "3"));
        ok &= string.Join(",", ids) == "1,2,3,4,5,6";

        if (serve)
        {
            Console.WriteLine("serving; try the commands above (Ctrl+C stops)");
            await Microsoft.Extensions.Hosting.HostingAbstractionsHostExtensions.WaitForShutdownAsync(app);
        }

        await app.StopAsync();
        await app.DisposeAsync();
        Console.WriteLine(ok ? "gateway: as documented" : "gateway: NOT as documented");
        return ok;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<List<string?>> ReadEventsAsync(HttpClient http, string? lastEventId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/stock/Changes?sku=pen");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var ids = new List<string?>();
        await foreach (SseItem<string> item in SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync())
        {
            Console.WriteLine($"  event: {item.EventType}  id: {item.EventId}  data: {item.Data}");
            ids.Add(item.EventId);
            if (ids.Count == 3)
            {
                break; // the reader leaves: the gateway cancels the call, and the handler's token fires
            }
        }

        return ids;
    }
}

// A resumable feed: each event's offset is its position, so a stream that loses its server goes on from the last event
// its reader received, on another server, without a gap or a repeat. "serve-events <port>" runs one server process of
// it (the kill -9 test of resumable streams starts three).
using System.Net;
using System.Runtime.CompilerServices;
using RpcGen;
using RpcGen.Server;

namespace Sample.Streaming;

public sealed record FeedEvent(long Offset, string Text);

[RpcService("event-feed")]
public interface IEventFeed
{
    /// <summary>
    /// The events of <paramref name="topic"/> after <paramref name="after"/>, one every <paramref name="intervalMs"/>,
    /// without end. The log is the same on every server (event n of a topic is always "topic#n"), as a replicated log is.
    /// </summary>
    [Resumable(nameof(FeedEvent.Offset))]
    IAsyncEnumerable<FeedEvent> TailAsync(string topic, [ResumeFrom] long? after, int intervalMs, CancellationToken ct = default);
}

public sealed class EventFeed : IEventFeed
{
    public async IAsyncEnumerable<FeedEvent> TailAsync(string topic, long? after, int intervalMs,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        for (long offset = (after ?? 0) + 1; ; offset++)
        {
            await Task.Delay(intervalMs, ct);
            yield return new FeedEvent(offset, $"{topic}#{offset}");
        }
    }

    /// <summary>One server process of the feed on 127.0.0.1:<paramref name="port"/>, until it is killed.</summary>
    public static async Task<int> ServeAsync(int port)
    {
        var options = new RpcServerOptions();
        options.Listen.Add(new IPEndPoint(IPAddress.Loopback, port));
        await using var server = new RpcServer(options);
        server.Map<IEventFeed>(new EventFeed());
        await server.StartAsync();
        Console.WriteLine($"ready {server.Endpoints[0].Port}");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }
}

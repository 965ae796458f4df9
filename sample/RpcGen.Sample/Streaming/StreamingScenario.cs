// Scenario "streaming": one server on loopback and the three shapes of a stream: a price feed the caller stops after a
// few ticks (its handler sees the cancellation), an upload of trades summed by the server, and a duplex chat. Then a
// reader that stops reading: the server's handler is held to the stream's window (flow control), not run ahead.
using System.Runtime.CompilerServices;
using RpcGen;
using RpcGen.Client;
using RpcGen.Server;

namespace Sample.Streaming;

public static class StreamingScenario
{
    /// <summary>Runs the scenario on loopback; true when everything behaved as documented.</summary>
    public static async Task<bool> RunAsync()
    {
        var feed = new PriceFeed();
        await using var server = new RpcServer(new RpcServerOptions());
        server.Map<IPriceFeed>(feed);
        await server.StartAsync();

        var options = new RpcClientOptions();
        options.Endpoints.Add(server.Endpoints[0]);
        await using var client = new RpcClient(options);
        IPriceFeed prices = client.CreateProxy<IPriceFeed>();

        // A server stream: read five ticks, then stop; leaving the loop cancels the call on the server.
        int ticks = 0;
        await foreach (Tick tick in prices.WatchAsync("MSFT"))
        {
            Console.WriteLine($"tick {tick.Sequence}: {tick.Symbol} {tick.Price}");
            if (++ticks == 5)
            {
                break;
            }
        }

        bool stopped = await Task.WhenAny(feed.WatchStopped.Task, Task.Delay(5000)) == feed.WatchStopped.Task;
        Console.WriteLine(stopped ? "The server's handler saw the caller stop." : "The server's handler did not stop!");

        // A client stream: the server sums what the caller sends, and answers once the caller's stream ends.
        Summary summary = await prices.UploadAsync(Trades(1000));
        Console.WriteLine($"uploaded {summary.Trades} trades, {summary.Quantity} shares in all");

        // Duplex: each message is answered as it arrives.
        var replies = new List<string>();
        await foreach (string reply in prices.ChatAsync(Messages("hello", "how much is MSFT?", "bye")))
        {
            replies.Add(reply);
            Console.WriteLine($"chat: {reply}");
        }

        // Flow control: a reader that stops after one tick. The server sends the window (64 ticks) and its handler
        // waits with one more in hand, instead of filling memory with ticks nobody reads.
        await using (IAsyncEnumerator<Tick> slow = prices.WatchAsync("SLOW").GetAsyncEnumerator())
        {
            await slow.MoveNextAsync();
            await Task.Delay(500);
            Console.WriteLine($"a reader that stopped after 1 tick: the handler produced {feed.Produced("SLOW")} and waits (window: 64)");
        }

        bool held = feed.Produced("SLOW") <= 66;
        bool resumed = await ResumeAcrossServersAsync();
        bool ok = stopped && summary == new Summary(1000, 500_500) && replies.Count == 3 && held && resumed;
        Console.WriteLine(ok ? "Streams behaved as documented." : "Streams did not behave as documented!");
        return ok;
    }

    /// <summary>
    /// A [Resumable] feed served by two servers: the one streaming to the reader stops halfway, and the stream goes on
    /// from the other, from the last event read, with no gap and no repeat.
    /// </summary>
    private static async Task<bool> ResumeAcrossServersAsync()
    {
        var servers = new List<RpcServer>();
        var options = new RpcClientOptions();
        for (int i = 0; i < 2; i++)
        {
            var server = new RpcServer(new RpcServerOptions());
            server.Map<IEventFeed>(new EventFeed());
            await server.StartAsync();
            servers.Add(server);
            options.Endpoints.Add(server.Endpoints[0]);
        }

        await using var client = new RpcClient(options);
        var offsets = new List<long>();
        await foreach (FeedEvent e in client.CreateProxy<IEventFeed>().TailAsync("orders", null, intervalMs: 5))
        {
            offsets.Add(e.Offset);
            if (offsets.Count == 50)
            {
                // Stop whichever server serves the stream: its GoAway and close end the stream there.
                foreach (RpcServer server in servers)
                {
                    if (server.InFlight > 0)
                    {
                        Console.WriteLine($"event {e.Offset}: stopping the server that streams it ({server.Endpoints[0]})");
                        _ = server.DisposeAsync().AsTask();
                    }
                }
            }

            if (offsets.Count == 100)
            {
                break;
            }
        }

        foreach (RpcServer server in servers)
        {
            await server.DisposeAsync();
        }

        bool intact = offsets.SequenceEqual(Enumerable.Range(1, 100).Select(i => (long)i));
        Console.WriteLine(intact
            ? "a resumable feed read 100 events across the stop, each once, in order"
            : $"the resumable feed lost or repeated events: {string.Join(",", offsets)}");
        return intact;
    }

    private static async IAsyncEnumerable<Trade> Trades(int count)
    {
        for (int i = 1; i <= count; i++)
        {
            if (i % 100 == 0)
            {
                await Task.Yield();
            }

            yield return new Trade("MSFT", i);
        }
    }

    private static async IAsyncEnumerable<string> Messages(params string[] texts)
    {
        foreach (string text in texts)
        {
            await Task.Delay(50);
            yield return text;
        }
    }
}

public sealed record Tick(string Symbol, long Sequence, decimal Price);
public sealed record Trade(string Symbol, int Quantity);
public sealed record Summary(int Trades, int Quantity);

[RpcService("price-feed"), Timeout(2000)]
public interface IPriceFeed
{
    /// <summary>Ticks without end, as fast as the caller reads them; [Timeout] bounds only the wait for the first.</summary>
    IAsyncEnumerable<Tick> WatchAsync(string symbol, CancellationToken ct = default);

    Task<Summary> UploadAsync(IAsyncEnumerable<Trade> trades, CancellationToken ct = default);

    IAsyncEnumerable<string> ChatAsync(IAsyncEnumerable<string> messages, CancellationToken ct = default);
}

public sealed class PriceFeed : IPriceFeed
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _produced = new();

    public TaskCompletionSource WatchStopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Produced(string symbol) => _produced.GetValueOrDefault(symbol);

    public async IAsyncEnumerable<Tick> WatchAsync(string symbol, [EnumeratorCancellation] CancellationToken ct = default)
    {
        try
        {
            for (long i = 1; ; i++)
            {
                ct.ThrowIfCancellationRequested();
                _produced.AddOrUpdate(symbol, 1, static (_, n) => n + 1);
                yield return new Tick(symbol, i, 400m + (i % 7));
                if (symbol == "MSFT")
                {
                    await Task.Delay(20, ct);
                }
            }
        }
        finally
        {
            if (symbol == "MSFT")
            {
                WatchStopped.TrySetResult();
            }
        }
    }

    public async Task<Summary> UploadAsync(IAsyncEnumerable<Trade> trades, CancellationToken ct = default)
    {
        int count = 0, quantity = 0;
        await foreach (Trade trade in trades.WithCancellation(ct))
        {
            count++;
            quantity += trade.Quantity;
        }

        return new Summary(count, quantity);
    }

    public async IAsyncEnumerable<string> ChatAsync(IAsyncEnumerable<string> messages, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (string message in messages.WithCancellation(ct))
        {
            yield return message.EndsWith('?') ? "MSFT is about 403" : "you said: " + message;
        }
    }
}

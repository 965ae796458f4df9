using System.Runtime.CompilerServices;

namespace RpcGen.Tests.Support;

public sealed record Item(string Sku, int Quantity, decimal Price);

public sealed record Order(string Sku, int Quantity);

public sealed record Receipt(string Sku, decimal Total, Color Color);

public sealed record FeedEntry(long Position, string Text);

public enum Color
{
    Red,
    Green,
}

/// <summary>A store served over the HTTP gateway: GET and POST, headers both ways, errors, deadlines, streams, a token.</summary>
[RpcService("store")]
public interface IStore
{
    [NoSideEffects]
    Task<Item> GetAsync(string sku, int quantity = 1, Color color = Color.Red);

    Task<Receipt> BuyAsync(Order order, Color color = Color.Green);

    Task<string> EchoHeaderAsync(string name);

    Task ForgetAsync(string sku);

    Task FailAsync(RpcStatusCode code, string message);

    Task<int> SlowAsync(int milliseconds, CancellationToken ct = default);

    [NoSideEffects]
    IAsyncEnumerable<int> CountAsync(int count, int failAfter = -1, CancellationToken ct = default);

    [NoSideEffects, Resumable]
    IAsyncEnumerable<FeedEntry> FeedAsync([ResumeFrom] long? after, long end, CancellationToken ct = default);

    /// <summary>An endless resumable feed: one entry every <paramref name="intervalMs"/>, for the browser test.</summary>
    [NoSideEffects, Resumable]
    IAsyncEnumerable<FeedEntry> TickerAsync([ResumeFrom] long? after, int intervalMs, CancellationToken ct = default);

    [RpcAuthorize(Roles = "admin")]
    Task<string> WhoAmIAsync();

    Task<int> SumAsync(IAsyncEnumerable<int> numbers, CancellationToken ct = default);
}

public sealed class Store : IStore
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public TaskCompletionSource<bool> SlowCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<Item> GetAsync(string sku, int quantity = 1, Color color = Color.Red)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(new Item(sku, quantity, 2.5m * quantity));
    }

    public Task<Receipt> BuyAsync(Order order, Color color = Color.Green)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(new Receipt(order.Sku, 2.5m * order.Quantity, color));
    }

    public Task<string> EchoHeaderAsync(string name)
    {
        Interlocked.Increment(ref _calls);
        RpcCallContext context = RpcCallContext.Current!;
        context.ResponseHeaders.Add("served-by", "store");
        context.ResponseTrailers.Add("checksum", "abc");
        context.ResponseTrailers.Add("blob-bin", new byte[] { 1, 2, 3 });
        return Task.FromResult(string.Join(",", context.RequestHeaders.GetValues(name)));
    }

    public Task ForgetAsync(string sku)
    {
        Interlocked.Increment(ref _calls);
        return Task.CompletedTask;
    }

    public Task FailAsync(RpcStatusCode code, string message)
    {
        Interlocked.Increment(ref _calls);
        throw new RpcException(code, message);
    }

    public async Task<int> SlowAsync(int milliseconds, CancellationToken ct = default)
    {
        Interlocked.Increment(ref _calls);
        try
        {
            await Task.Delay(milliseconds, ct);
            return milliseconds;
        }
        catch (OperationCanceledException)
        {
            SlowCancelled.TrySetResult(true);
            throw;
        }
    }

    public async IAsyncEnumerable<int> CountAsync(int count, int failAfter = -1, [EnumeratorCancellation] CancellationToken ct = default)
    {
        Interlocked.Increment(ref _calls);
        RpcCallContext.Current!.ResponseHeaders.Add("stream-by", "store");
        for (int i = 1; i <= count; i++)
        {
            if (i - 1 == failAfter)
            {
                throw new RpcException(RpcStatusCode.DataLoss, $"lost after {failAfter}");
            }

            await Task.Yield();
            yield return i;
        }

        RpcCallContext.Current!.ResponseTrailers.Add("counted", count.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Each call's [ResumeFrom] argument, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<long?> FeedFrom { get; } = new();

    public async IAsyncEnumerable<FeedEntry> FeedAsync(long? after, long end, [EnumeratorCancellation] CancellationToken ct = default)
    {
        Interlocked.Increment(ref _calls);
        FeedFrom.Enqueue(after);
        for (long position = (after ?? 0) + 1; position <= end; position++)
        {
            await Task.Yield();
            yield return new FeedEntry(position, "#" + position);
        }
    }

    /// <summary>Each ticker call's [ResumeFrom] argument, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<long?> TickerFrom { get; } = new();

    public async IAsyncEnumerable<FeedEntry> TickerAsync(long? after, int intervalMs, [EnumeratorCancellation] CancellationToken ct = default)
    {
        TickerFrom.Enqueue(after);
        for (long position = (after ?? 0) + 1; ; position++)
        {
            await Task.Delay(intervalMs, ct);
            yield return new FeedEntry(position, "#" + position);
        }
    }

    public Task<string> WhoAmIAsync()
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(RpcCallContext.Current!.User?.Identity?.Name ?? "nobody");
    }

    public async Task<int> SumAsync(IAsyncEnumerable<int> numbers, CancellationToken ct = default)
    {
        Interlocked.Increment(ref _calls);
        int sum = 0;
        await foreach (int n in numbers.WithCancellation(ct))
        {
            sum += n;
        }

        return sum;
    }
}

using System.Runtime.CompilerServices;

namespace RpcGen.Tests.Support;

public sealed record Tick(string Symbol, long Sequence, decimal Price);

public sealed record Trade(string Symbol, int Quantity);

public sealed record TradeSummary(int Trades, int Quantity);

/// <summary>The four shapes of streaming, with handlers tests can steer.</summary>
[RpcService("prices")]
public interface IPrices
{
    /// <summary>A server stream: <paramref name="count"/> ticks (-1: without end), <paramref name="delayMs"/> apart.</summary>
    IAsyncEnumerable<Tick> WatchAsync(string symbol, int count, int delayMs = 0, CancellationToken ct = default);

    /// <summary>A client stream: sums what the caller sends.</summary>
    Task<TradeSummary> UploadAsync(IAsyncEnumerable<Trade> trades, CancellationToken ct = default);

    /// <summary>A client stream without a result: counts into the service.</summary>
    Task CountAsync(string tag, IAsyncEnumerable<int> numbers, CancellationToken ct = default);

    /// <summary>Duplex: echoes each trade back as a tick.</summary>
    IAsyncEnumerable<Tick> EchoAsync(IAsyncEnumerable<Trade> trades, CancellationToken ct = default);

    /// <summary>A server stream that fails after <paramref name="after"/> items with NotFound and a trailer.</summary>
    IAsyncEnumerable<int> FailingAsync(int after, CancellationToken ct = default);

    /// <summary>A server stream that yields one item and then waits for its token, recording that it fired.</summary>
    IAsyncEnumerable<int> HangAsync(CancellationToken ct = default);

    /// <summary>A server stream of <paramref name="count"/> items of <paramref name="size"/> characters each.</summary>
    IAsyncEnumerable<string> BlobsAsync(int count, int size, CancellationToken ct = default);

    /// <summary>
    /// A server stream with response headers: writes one, yields 1, waits for <see cref="Prices.Proceed"/>, tries to
    /// write another (recording whether that was refused), yields 2 to <paramref name="count"/>, writes a trailer, and
    /// ends, or fails with Aborted when <paramref name="fail"/>.
    /// </summary>
    IAsyncEnumerable<int> HeadedAsync(int count, bool fail, CancellationToken ct = default);
}

public sealed class Prices : IPrices
{
    private int _counted;
    private long _produced;

    /// <summary>Items the handlers took from their sources (yielded so far).</summary>
    public long Produced => Interlocked.Read(ref _produced);

    public int Counted => Volatile.Read(ref _counted);

    public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<string> LastTag { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Proceed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<string> LateHeader { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async IAsyncEnumerable<Tick> WatchAsync(string symbol, int count, int delayMs = 0, [EnumeratorCancellation] CancellationToken ct = default)
    {
        for (long i = 1; count < 0 || i <= count; i++)
        {
            if (delayMs > 0)
            {
                await Task.Delay(delayMs, ct);
            }

            Interlocked.Increment(ref _produced);
            yield return new Tick(symbol, i, 100m + i);
        }
    }

    public async Task<TradeSummary> UploadAsync(IAsyncEnumerable<Trade> trades, CancellationToken ct = default)
    {
        int count = 0, quantity = 0;
        await foreach (Trade trade in trades.WithCancellation(ct))
        {
            count++;
            quantity += trade.Quantity;
        }

        return new TradeSummary(count, quantity);
    }

    public async Task CountAsync(string tag, IAsyncEnumerable<int> numbers, CancellationToken ct = default)
    {
        await foreach (int n in numbers.WithCancellation(ct))
        {
            Interlocked.Add(ref _counted, n);
        }

        LastTag.TrySetResult(tag);
    }

    public async IAsyncEnumerable<Tick> EchoAsync(IAsyncEnumerable<Trade> trades, [EnumeratorCancellation] CancellationToken ct = default)
    {
        long sequence = 0;
        await foreach (Trade trade in trades.WithCancellation(ct))
        {
            yield return new Tick(trade.Symbol, ++sequence, trade.Quantity);
        }
    }

    public async IAsyncEnumerable<int> FailingAsync(int after, [EnumeratorCancellation] CancellationToken ct = default)
    {
        for (int i = 1; i <= after; i++)
        {
            yield return i;
        }

        await Task.CompletedTask; // fails at once, after items the sender has batched but not sent yet: they must go first
        RpcCallContext.Current!.ResponseTrailers.Add("reason", "gone");
        throw new RpcException(RpcStatusCode.NotFound, $"failed after {after}");
    }

    public async IAsyncEnumerable<int> HangAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        yield return 1;
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        finally
        {
            Cancelled.TrySetResult();
        }
    }

    public async IAsyncEnumerable<string> BlobsAsync(int count, int size, [EnumeratorCancellation] CancellationToken ct = default)
    {
        string blob = new('x', size);
        for (int i = 0; i < count; i++)
        {
            ct.ThrowIfCancellationRequested();
            Interlocked.Increment(ref _produced);
            yield return blob;
        }

        await Task.CompletedTask;
    }

    public async IAsyncEnumerable<int> HeadedAsync(int count, bool fail, [EnumeratorCancellation] CancellationToken ct = default)
    {
        RpcCallContext context = RpcCallContext.Current!;
        context.ResponseHeaders.Add("served-by", "prices");
        yield return 1;
        await Proceed.Task.WaitAsync(ct); // the caller has item 1: the headers left with it
        try
        {
            context.ResponseHeaders.Add("late", "yes");
            LateHeader.TrySetResult("accepted");
        }
        catch (InvalidOperationException ex)
        {
            LateHeader.TrySetResult(ex.Message);
        }

        for (int i = 2; i <= count; i++)
        {
            yield return i;
        }

        context.ResponseTrailers.Add("done", "yes");
        if (fail)
        {
            throw new RpcException(RpcStatusCode.Aborted, "failed on purpose");
        }
    }
}

/// <summary>Streams whose deadlines and windows tests steer: the attributes are what is under test.</summary>
[RpcService("stream-limits"), Timeout(1000)]
public interface IStreamLimits
{
    /// <summary>
    /// Yields <paramref name="count"/> items: the first after <paramref name="firstDelayMs"/>, then every <paramref name="gapMs"/>.
    /// </summary>
    IAsyncEnumerable<int> SlowAsync(int count, int firstDelayMs, int gapMs, CancellationToken ct = default);

    [Streaming(IdleTimeoutMs = 500)]
    IAsyncEnumerable<int> IdleAsync(int count, int firstDelayMs, int gapMs, CancellationToken ct = default);

    [Timeout(1000), Streaming(TimeoutCoversWholeStream = true)]
    IAsyncEnumerable<int> BoundedAsync(int count, int firstDelayMs, int gapMs, CancellationToken ct = default);

    /// <summary>Waits for the test to open its gate before reading any item; returns how many it read.</summary>
    [Timeout(0), Streaming(WindowItems = 8, WindowBytes = 4096)]
    Task<int> GatedAsync(IAsyncEnumerable<int> numbers, CancellationToken ct = default);

    /// <summary>Counts the caller's items; the handler waits at most 1 s for each (its read then fails).</summary>
    [Timeout(0), Streaming(IdleTimeoutMs = 1000)]
    Task<int> CountIdleAsync(IAsyncEnumerable<int> numbers, CancellationToken ct = default);
}

public sealed class StreamLimits : IStreamLimits
{
    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<bool> HandlerCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IAsyncEnumerable<int> SlowAsync(int count, int firstDelayMs, int gapMs, CancellationToken ct = default) => Items(count, firstDelayMs,
        gapMs, ct);

    public IAsyncEnumerable<int> IdleAsync(int count, int firstDelayMs, int gapMs, CancellationToken ct = default) => Items(count, firstDelayMs,
        gapMs, ct);

    public IAsyncEnumerable<int> BoundedAsync(int count, int firstDelayMs, int gapMs, CancellationToken ct = default) => Items(count,
        firstDelayMs, gapMs, ct);

    private async IAsyncEnumerable<int> Items(int count, int firstDelayMs, int gapMs, [EnumeratorCancellation] CancellationToken ct)
    {
        try
        {
            for (int i = 1; i <= count; i++)
            {
                await Task.Delay(i == 1 ? firstDelayMs : gapMs, ct);
                yield return i;
            }
        }
        finally
        {
            if (ct.IsCancellationRequested)
            {
                HandlerCancelled.TrySetResult(true);
            }
        }
    }

    public async Task<int> CountIdleAsync(IAsyncEnumerable<int> numbers, CancellationToken ct = default)
    {
        int read = 0;
        await foreach (int _ in numbers.WithCancellation(ct))
        {
            read++;
        }

        return read;
    }

    public async Task<int> GatedAsync(IAsyncEnumerable<int> numbers, CancellationToken ct = default)
    {
        await Gate.Task.WaitAsync(ct);
        int read = 0;
        await foreach (int _ in numbers.WithCancellation(ct))
        {
            read++;
        }

        return read;
    }
}

public sealed record Event(long Offset, string Text);

/// <summary>A resumable feed over a log of events 1..end; positions before <see cref="Events.Retained"/> are gone.</summary>
[RpcService("events")]
public interface IEvents
{
    [Resumable(nameof(Event.Offset))]
    IAsyncEnumerable<Event> TailAsync(string topic, [ResumeFrom] long? after, long end, CancellationToken ct = default);
}

public sealed class Events : IEvents
{
    private int _calls;

    /// <summary>The first position the log still holds; a resume from before it is refused with OutOfRange.</summary>
    public long Retained { get; set; }

    /// <summary>Each call's [ResumeFrom] argument, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<long?> ResumedFrom { get; } = new();

    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Items a handler yields before it waits (a quiet feed) instead of going on.</summary>
    public int Burst { get; set; } = int.MaxValue;

    /// <summary>A sloppy server: a resumed call starts this many positions before the one asked for.</summary>
    public int Overlap { get; set; }

    public async IAsyncEnumerable<Event> TailAsync(string topic, long? after, long end, [EnumeratorCancellation] CancellationToken ct = default)
    {
        Interlocked.Increment(ref _calls);
        ResumedFrom.Enqueue(after);
        long from = (after ?? 0) + 1;
        if (after is not null)
        {
            from = Math.Max(1, from - Overlap);
        }

        if (from < Retained)
        {
            throw new RpcException(RpcStatusCode.OutOfRange, $"position {from} of '{topic}' is no longer held; the log starts at {Retained}");
        }

        int yielded = 0;
        for (long offset = from; offset <= end; offset++)
        {
            if (++yielded > Burst)
            {
                await Task.Delay(Timeout.Infinite, ct);
            }

            await Task.Yield();
            yield return new Event(offset, topic + "#" + offset);
        }
    }
}

namespace RpcGen.Tests.Support;

[RpcService("orders"), Timeout(5000), Retry(MaxAttempts = 3, InitialBackoffMs = 1, MaxBackoffMs = 5)]
public interface IOrders
{
    [Idempotent] Task<string> GetAsync(int id, CancellationToken cancellationToken = default);

    Task<string> PlaceAsync(int id, CancellationToken cancellationToken = default);

    [Deduplicate, Retry(MaxAttempts = 3, InitialBackoffMs = 1, MaxBackoffMs = 5, PerAttemptTimeoutMs = 60)]
    Task<int> ChargeAsync(int amount, CancellationToken cancellationToken = default);

    [Idempotent, Hedging(MaxAttempts = 3, DelayMs = 20)]
    Task<string> QuoteAsync(int id, CancellationToken cancellationToken = default);

    [Broadcast] Task InvalidateAsync(string key);

    [Retry(MaxAttempts = 1), CircuitBreaker(FailureRatio = 0.5, MinimumThroughput = 4, BreakDurationMs = 1000)]
    Task<string> StockAsync(int id);

    [Idempotent, Timeout(300), Retry(MaxAttempts = 5, InitialBackoffMs = 1, MaxBackoffMs = 5, PerAttemptTimeoutMs = 100)]
    Task<string> HangAsync(CancellationToken cancellationToken = default);

    [Idempotent] Task<bool> WasRetryAsync();

    /// <summary>Calls <see cref="IStock"/> on another server from inside the handler.</summary>
    [Idempotent] Task<int> RelayAsync(CancellationToken cancellationToken = default);
}

[RpcService("stock"), Idempotent, Retry(MaxAttempts = 3, InitialBackoffMs = 1, MaxBackoffMs = 5)]
public interface IStock
{
    Task<int> CountAsync(CancellationToken cancellationToken = default);
}

/// <summary>A downstream service that always fails with Unavailable and counts its runs.</summary>
public sealed class FailingStock : IStock
{
    public int Runs;

    public Task<int> CountAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Runs);
        throw new RpcException(RpcStatusCode.Unavailable, "stock is down");
    }
}

/// <summary>An orders server whose faults tests switch on: errors, delays, hangs; it counts every handler run.</summary>
public sealed class FaultyOrders : IOrders
{
    private int _charges;

    public FaultyOrders(string name) => Name = name;

    public string Name { get; }

    /// <summary>Handler runs per method name.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, int> Runs { get; } = new();

    /// <summary>When set, handlers throw this (GetAsync, PlaceAsync, QuoteAsync, StockAsync, InvalidateAsync).</summary>
    public Func<RpcException>? Fail { get; set; }

    /// <summary>Awaited at the start of GetAsync and PlaceAsync (after the run is counted): lets a test hold a handler.</summary>
    public Func<Task>? Gate { get; set; }

    /// <summary>The downstream client RelayAsync calls through.</summary>
    public IStock? Downstream { get; set; }

    /// <summary>Added to QuoteAsync, in ms.</summary>
    public int QuoteDelayMs { get; set; }

    /// <summary>Handler tokens that fired (hedging losers, hangs).</summary>
    public int Cancelled;

    private void Run(string method)
    {
        Runs.AddOrUpdate(method, 1, static (_, n) => n + 1);
        if (Fail?.Invoke() is { } error)
        {
            throw error;
        }
    }

    public int RunsOf(string method) => Runs.TryGetValue(method, out int n) ? n : 0;

    public async Task<string> GetAsync(int id, CancellationToken cancellationToken = default)
    {
        Run("Get");
        if (Gate is { } gate)
        {
            await gate();
        }

        return $"{Name}:{id}";
    }

    public async Task<string> PlaceAsync(int id, CancellationToken cancellationToken = default)
    {
        Run("Place");
        if (Gate is { } gate)
        {
            await gate();
        }

        return $"{Name}:placed:{id}";
    }

    public async Task<int> RelayAsync(CancellationToken cancellationToken = default)
    {
        Run("Relay");
        return await Downstream!.CountAsync(cancellationToken);
    }

    public async Task<int> ChargeAsync(int amount, CancellationToken cancellationToken = default)
    {
        Runs.AddOrUpdate("Charge", 1, static (_, n) => n + 1);
        int run = Interlocked.Increment(ref _charges);
        await Task.Delay(150, CancellationToken.None); // slower than the attempt timeout, and it does not give up
        return run * amount;
    }

    public async Task<string> QuoteAsync(int id, CancellationToken cancellationToken = default)
    {
        Run("Quote");
        if (QuoteDelayMs > 0)
        {
            try
            {
                await Task.Delay(QuoteDelayMs, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref Cancelled);
                throw;
            }
        }

        return $"{Name}:quote:{id}";
    }

    public Task InvalidateAsync(string key)
    {
        Run("Invalidate");
        return Task.CompletedTask;
    }

    public Task<string> StockAsync(int id)
    {
        Run("Stock");
        return Task.FromResult($"{Name}:stock:{id}");
    }

    public async Task<string> HangAsync(CancellationToken cancellationToken = default)
    {
        Runs.AddOrUpdate("Hang", 1, static (_, n) => n + 1);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref Cancelled);
            throw;
        }

        return "never";
    }

    public Task<bool> WasRetryAsync()
    {
        Run("WasRetry");
        return Task.FromResult(RpcCallContext.Current?.IsRetryAttempt == true);
    }
}

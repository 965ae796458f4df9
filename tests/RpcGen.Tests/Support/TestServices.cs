namespace RpcGen.Tests.Support;

public sealed record Quote(string Symbol, decimal Price, DateTimeOffset At);

public sealed record QuoteRequest(string Symbol, int Quantity);

[RpcService("calc")]
[Timeout(5000)]
public interface ICalculator
{
    Task<int> AddAsync(int a, int b, CancellationToken ct = default);

    ValueTask<Quote> QuoteAsync(QuoteRequest request);

    Task ResetAsync();

    [RpcMethod("mul")]
    Task<long> MultiplyAsync(long a, long b);

    Task<string> WhoAmIAsync(CancellationToken cancellationToken = default);

    Task<int> EchoSizeAsync(string text);

    Task<int> WaitForCancellationAsync(int milliseconds, CancellationToken cancellationToken = default);

    [Timeout(200)]
    Task<int> SlowWithDeadlineAsync(int milliseconds, CancellationToken cancellationToken = default);

    Task FailAsync(string kind);

    Task<int> AddWithDefaultAsync(int a, int b = 10);
}

/// <summary>A calculator that says which server it runs on and records what its handlers observed.</summary>
public sealed class Calculator : ICalculator
{
    private int _calls;

    public Calculator(string name) => Name = name;

    public string Name { get; }

    public int Calls => Volatile.Read(ref _calls);

    public TaskCompletionSource<bool> HandlerCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<bool> HandlerStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<int> AddAsync(int a, int b, CancellationToken ct = default)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(a + b);
    }

    public ValueTask<Quote> QuoteAsync(QuoteRequest request)
    {
        Interlocked.Increment(ref _calls);
        return new ValueTask<Quote>(new Quote(request.Symbol, 12.5m * request.Quantity, new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero)));
    }

    public Task ResetAsync()
    {
        Interlocked.Increment(ref _calls);
        return Task.CompletedTask;
    }

    public Task<long> MultiplyAsync(long a, long b)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(a * b);
    }

    public async Task<string> WhoAmIAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        await Task.Yield();
        return Name;
    }

    public Task<int> EchoSizeAsync(string text)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(text.Length);
    }

    public async Task<int> WaitForCancellationAsync(int milliseconds, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        HandlerStarted.TrySetResult(true);
        try
        {
            await Task.Delay(milliseconds, cancellationToken);
            return milliseconds;
        }
        catch (OperationCanceledException)
        {
            HandlerCancelled.TrySetResult(true);
            throw;
        }
    }

    public Task<int> SlowWithDeadlineAsync(int milliseconds, CancellationToken cancellationToken = default) =>
        WaitForCancellationAsync(milliseconds, cancellationToken);

    public Task FailAsync(string kind)
    {
        Interlocked.Increment(ref _calls);
        return kind switch
        {
            "rpc" => throw new RpcException(RpcStatusCode.NotFound, "no such thing"),
            "unavailable" => throw new RpcException(RpcStatusCode.Unavailable, "overloaded"),
            "argument" => Task.FromException(new ArgumentException("secret detail")),
            "sync" => throw new InvalidOperationException("secret detail"),
            _ => Task.CompletedTask,
        };
    }

    public Task<int> AddWithDefaultAsync(int a, int b = 10) => Task.FromResult(a + b);
}

/// <summary>A newer client's view of "calc": one method the servers do not have.</summary>
[RpcService("calc")]
public interface ICalculatorV2
{
    Task<int> SubtractAsync(int a, int b);
}

/// <summary>A service no test server maps.</summary>
[RpcService("missing")]
public interface IMissing
{
    Task PingAsync();
}

/// <summary>Calls that take as long as their server is told to.</summary>
[RpcService("work")]
public interface IWork
{
    Task<string> DoAsync(CancellationToken cancellationToken = default);

    [LoadBalance(LoadBalanceStrategy.ConsistentHash)]
    Task<string> ForUserAsync([HashKey] string userId);

    [LoadBalance(typeof(LastEndpointBalancer))]
    Task<string> PinnedAsync();
}

public sealed class Work : IWork
{
    private int _calls;

    public Work(string name, int delayMs)
    {
        Name = name;
        DelayMs = delayMs;
    }

    public string Name { get; }

    public int DelayMs { get; set; }

    public int Calls => Volatile.Read(ref _calls);

    public async Task<string> DoAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        if (DelayMs > 0)
        {
            await Task.Delay(DelayMs, cancellationToken);
        }
        else
        {
            await Task.Yield();
        }

        return Name;
    }

    public Task<string> ForUserAsync(string userId)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(Name);
    }

    public Task<string> PinnedAsync()
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(Name);
    }
}

/// <summary>A user's own strategy, named in [LoadBalance(typeof(...))]: always the last candidate.</summary>
public sealed class LastEndpointBalancer : ILoadBalancer
{
    public string Name => "last";

    public RpcEndpointState? Pick(in LoadBalancingContext context) => context.Candidates.Length == 0 ? null : context.Candidates[^1];
}

public sealed record ShopItem(int ItemId, string DisplayName);

/// <summary>A real source-generated context, with snake_case names so the wire shows which options were used.</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ShopItem))]
[System.Text.Json.Serialization.JsonSerializable(typeof(int))]
public sealed partial class ShopJson : System.Text.Json.Serialization.JsonSerializerContext
{
}

[RpcService("shop", JsonContext = typeof(ShopJson))]
public interface IShop
{
    Task<ShopItem> GetAsync(int itemId);
}

public sealed class Shop : IShop
{
    public Task<ShopItem> GetAsync(int itemId) => Task.FromResult(new ShopItem(itemId, "item " + itemId));
}

/// <summary>A service that calls another from inside its handler (deadline propagation).</summary>
[RpcService("front"), Timeout(200)]
public interface IFront
{
    Task<int> RelayAsync(int milliseconds);

    Task<int> RemainingAsync();
}

/// <summary>No [Timeout] anywhere: calls carry only the client's DefaultTimeout.</summary>
[RpcService("plain")]
public interface IPlain
{
    Task<bool> HasContextAsync();
}

public sealed class Plain : IPlain
{
    public Task<bool> HasContextAsync() => Task.FromResult(RpcCallContext.Current is not null);
}

public sealed class Front : IFront
{
    private readonly ICalculator _back;

    public Front(ICalculator back) => _back = back;

    public Task<int> RelayAsync(int milliseconds) => _back.WaitForCancellationAsync(milliseconds); // back has [Timeout(5000)]

    public Task<int> RemainingAsync()
    {
        LastContext = RpcCallContext.Current;
        return Task.FromResult((int)Math.Round(RpcCallContext.Current!.Remaining.TotalMilliseconds));
    }

    /// <summary>The context the last RemainingAsync saw, for tests of what it gives after the call.</summary>
    public RpcCallContext? LastContext { get; private set; }
}

/// <summary>A handler that blocks its thread synchronously until released (what not to write, and what must not stall a connection).</summary>
[RpcService("blocking")]
public interface IBlocking
{
    Task<int> BlockAsync();

    Task<int> PingAsync();
}

public sealed class Blocking : IBlocking
{
    public ManualResetEventSlim Release { get; } = new();

    public TaskCompletionSource<bool> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<int> BlockAsync()
    {
        Started.TrySetResult(true);
        Release.Wait(TimeSpan.FromSeconds(20)); // synchronous: no await
        return Task.FromResult(1);
    }

    public Task<int> PingAsync() => Task.FromResult(2);
}

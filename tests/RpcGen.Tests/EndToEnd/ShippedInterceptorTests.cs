using System.Threading.RateLimiting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

/// <summary>The interceptors RpcGen ships: rate limiting and logging.</summary>
public sealed class ShippedInterceptorTests
{
    [Fact]
    public async Task RateLimiter_RefusesOverTheLimit_NotProcessed_WithPushback_AndTheHandlerDoesNotRun()
    {
        using PartitionedRateLimiter<RpcIncomingCall> limiter = PartitionedRateLimiter.Create<RpcIncomingCall, string>(call =>
            RateLimitPartition.GetFixedWindowLimiter(call.Method.FullName, _ => new FixedWindowRateLimiterOptions
            {
                PermitLimit = 2, Window = TimeSpan.FromMinutes(1), QueueLimit = 0,
            }));
        var flaky = new Flaky();
        await using var server = new RpcServer(new RpcServerOptions { Interceptors = { new RpcRateLimitingInterceptor(limiter) } });
        server.Map<IFlaky>(flaky);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IFlaky proxy = client.CreateProxy<IFlaky>();

        Assert.Equal(2, await proxy.AddAsync(1, 1, 0));
        Assert.Equal(3, await proxy.AddAsync(1, 2, 0));
        RpcException refused = await Assert.ThrowsAsync<RpcException>(() => proxy.AddAsync(1, 3, 0));

        Assert.Equal(RpcStatusCode.ResourceExhausted, refused.StatusCode);
        Assert.True(refused.NotProcessed);
        Assert.NotNull(refused.RetryAfter);
        Assert.True(refused.RetryAfter > TimeSpan.Zero && refused.RetryAfter <= TimeSpan.FromMinutes(1), $"retry after {refused.RetryAfter}");
        Assert.Contains("'flaky/Add' is over its rate limit", refused.Message, StringComparison.Ordinal);
        Assert.Equal(2, flaky.Calls);
    }

    [Fact]
    public async Task RateLimiter_RefusalGoesToAnotherServer_WhenOneHasRoom()
    {
        // One server refuses everything: its refusals are not processed, so each call is sent to the other at once.
        using PartitionedRateLimiter<RpcIncomingCall> closed = PartitionedRateLimiter.Create<RpcIncomingCall, string>(call =>
            RateLimitPartition.GetFixedWindowLimiter("all", _ => new FixedWindowRateLimiterOptions { PermitLimit = 1, Window = TimeSpan.FromHours(1) }));
        closed.AttemptAcquire(null!).Dispose(); // spend the only permit
        var limited = new Flaky();
        var open = new Flaky();
        await using var first = new RpcServer(new RpcServerOptions { Interceptors = { new RpcRateLimitingInterceptor(closed) } });
        first.Map<IFlaky>(limited);
        await first.StartAsync();
        await using var second = new RpcServer();
        second.Map<IFlaky>(open);
        await second.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { first.Endpoints[0], second.Endpoints[0] } });

        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(i, await client.CreateProxy<IFlaky>().AddAsync(i, 0, 0));
        }

        Assert.Equal((0, 10), (limited.Calls, open.Calls));
    }

    [Fact]
    public async Task LoggingInterceptors_LogEachCall_WithItsOutcome_OnBothSides()
    {
        var collector = new FakeLogCollector();
        using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new FakeLoggerProvider(collector)));
        var flaky = new Flaky();
        await using var server = new RpcServer(new RpcServerOptions { Interceptors = { new RpcServerLoggingInterceptor(loggers) } });
        server.Map<IFlaky>(flaky);
        await server.StartAsync();
        var options = new RpcClientOptions { Endpoints = { server.Endpoints[0] } };
        options.Interceptors.Add(new RpcClientLoggingInterceptor(loggers));
        await using var client = new RpcClient(options);

        Assert.Equal(5, await client.CreateProxy<IFlaky>().AddAsync(2, 3, failures: 1)); // one failed attempt, then a retry
        await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IFlaky>().AddAsync(2, 3, failures: 10));

        string[] lines = collector.GetSnapshot().Select(r => $"{r.Category} {r.Level}: {r.Message}").ToArray();
        Assert.Contains(lines, l => l.StartsWith("RpcGen.Server.Calls Information: Served 'flaky/Add': Unavailable", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("RpcGen.Server.Calls Debug: Served 'flaky/Add': OK", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("RpcGen.Client.Calls Debug: Attempt 0 of 'flaky/Add' failed on ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("RpcGen.Client.Calls Debug: Called 'flaky/Add' on ", StringComparison.Ordinal) && l.Contains(": OK in ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("RpcGen.Client.Calls Information: Called 'flaky/Add': Unavailable", StringComparison.Ordinal));
    }
}

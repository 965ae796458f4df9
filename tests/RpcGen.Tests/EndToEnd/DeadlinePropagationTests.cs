using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

/// <summary>A call made from inside a handler inherits the time left of the call being served (manual clock).</summary>
public sealed class DeadlinePropagationTests
{
    [Fact]
    public async Task NestedCall_InheritsTheRemainingDeadline_NotItsOwnLongerTimeout()
    {
        var time = new FakeTimeProvider();
        await using var backServer = new RpcServer(new RpcServerOptions { TimeProvider = time });
        var calculator = new Calculator("back");
        backServer.Map<ICalculator>(calculator);
        await backServer.StartAsync();
        await using var backClient = new RpcClient(new RpcClientOptions { TimeProvider = time, Endpoints = { backServer.InProcessEndpoint } });

        await using var frontServer = new RpcServer(new RpcServerOptions { TimeProvider = time });
        frontServer.Map<IFront>(new Front(backClient.CreateProxy<ICalculator>()));
        await frontServer.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { TimeProvider = time, Endpoints = { frontServer.InProcessEndpoint } });

        Task<int> call = client.CreateProxy<IFront>().RelayAsync(600_000); // front: [Timeout(200)]
        await calculator.HandlerStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));

        time.Advance(TimeSpan.FromMilliseconds(150));
        await Task.Delay(20);
        Assert.False(calculator.HandlerCancelled.Task.IsCompleted);

        time.Advance(TimeSpan.FromMilliseconds(60)); // past 200 ms, far before the back method's own 5 s
        Assert.True(await calculator.HandlerCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
    }

    [Fact]
    public async Task Handler_SeesTheCallContext_WithOrWithoutADeadline_AndNoneLeaksToTheCaller()
    {
        var time = new FakeTimeProvider();
        await using var server = new RpcServer(new RpcServerOptions { TimeProvider = time });
        var frontService = new Front(null!);
        server.Map<IFront>(frontService);
        server.Map<IPlain>(new Plain());
        await server.StartAsync();
        // No default deadline: a method without [Timeout] then carries none.
        await using var client = new RpcClient(new RpcClientOptions { TimeProvider = time, Endpoints = { server.InProcessEndpoint }, Resilience = { DefaultTimeout = Timeout.InfiniteTimeSpan } });
        IFront front = client.CreateProxy<IFront>();

        Assert.Equal(200, await front.RemainingAsync());        // the clock does not move: all 200 ms are left
        Assert.True(await client.CreateProxy<IPlain>().HasContextAsync()); // no deadline: a context all the same (metadata)
        Assert.Null(RpcCallContext.Current);                    // and none leaks to the caller

        // A context kept past its call gives a cancelled token, never the token of a later call on the pooled state.
        RpcCallContext kept = frontService.LastContext!;
        Assert.True(kept.CancellationToken.IsCancellationRequested);
        Assert.Equal(200, await front.RemainingAsync());
        Assert.True(kept.CancellationToken.IsCancellationRequested);
    }
}

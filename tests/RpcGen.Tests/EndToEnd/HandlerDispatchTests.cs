using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

public sealed class HandlerDispatchTests
{
    [Fact]
    public async Task HandlersOffTheReadLoop_ABlockingHandlerDoesNotStallTheConnection()
    {
        await using var server = new RpcServer(new RpcServerOptions { RunHandlersInline = false });
        var blocking = new Blocking();
        server.Map<IBlocking>(blocking);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IBlocking proxy = client.CreateProxy<IBlocking>();

        Task<int> blocked = proxy.BlockAsync();
        await blocking.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(2, await proxy.PingAsync().WaitAsync(TimeSpan.FromSeconds(10))); // same connection, answered meanwhile
        Assert.False(blocked.IsCompleted);

        blocking.Release.Set();
        Assert.Equal(1, await blocked.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task HandlersOffTheReadLoop_ServeEveryShapeCorrectly()
    {
        await using var server = new RpcServer(new RpcServerOptions { RunHandlersInline = false });
        server.Map<ICalculator>(new Calculator("pool"));
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        ICalculator calc = client.CreateProxy<ICalculator>();

        int[] sums = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => calc.AddAsync(i, i)));
        Assert.Equal(Enumerable.Range(0, 200).Select(i => 2 * i), sums);
        Assert.Equal(new string('x', 50_000).Length, await calc.EchoSizeAsync(new string('x', 50_000)));
        Assert.Equal(RpcStatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => calc.FailAsync("rpc"))).StatusCode);
        RpcException invalid = await Assert.ThrowsAsync<RpcException>(() => calc.FailAsync("sync"));
        Assert.Equal(RpcStatusCode.Internal, invalid.StatusCode);
    }
}

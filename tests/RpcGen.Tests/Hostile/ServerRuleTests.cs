using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Hostile;

/// <summary>The rules behind the hostile-client bounds, one at a time, on a fake clock.</summary>
public sealed class ServerRuleTests
{
    [Fact]
    public void FixedWindowCounter_IsOverOnlyPastTheLimitWithinOneWindow_AndStartsAgainInTheNext()
    {
        var time = new FakeTimeProvider();
        var counter = new FixedWindowCounter();
        TimeSpan window = TimeSpan.FromSeconds(1);
        for (int i = 0; i < 100; i++)
        {
            Assert.False(counter.Add(time, time.GetTimestamp(), window, 100));
        }

        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.True(counter.Add(time, time.GetTimestamp(), window, 100)); // the 101st within the window

        time.Advance(TimeSpan.FromMilliseconds(1)); // a new window from here
        for (int i = 0; i < 100; i++)
        {
            Assert.False(counter.Add(time, time.GetTimestamp(), window, 100));
        }
    }

    [Fact]
    public async Task TheHandOffMonitor_TicksOnlyWhileHandlersRunInline_AndStartsAgainForTheNext()
    {
        var obstinate = new Obstinate();
        await using var server = new RpcServer();
        server.Map<IObstinate>(obstinate);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IObstinate proxy = client.CreateProxy<IObstinate>();
        RpcGen.Transport.HandOffMonitor monitor = server.HandOffMonitor;
        Assert.False(monitor.IsArmed); // no handler has run yet: no timer

        await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => proxy.TrivialAsync()));
        await Wait.UntilAsync(() => !monitor.IsArmed); // idle again: the timer stopped itself
        int ticks = monitor.TickCount;
        await Task.Delay(50);
        Assert.Equal(ticks, monitor.TickCount); // and does not tick

        // The next handler arms it again, and one that blocks is still handed off.
        Task<int> blocked = proxy.BlockAsync();
        Assert.True(obstinate.Blocking.Wait(NoHang));
        Assert.True(await proxy.TrivialAsync().WaitAsync(NoHang) > 0);
        Assert.True(monitor.TickCount > ticks);
        obstinate.Unblock.Set();
        await blocked.WaitAsync(NoHang);
    }

    [Fact]
    public void Redact_RemovesHeaderValuesBearerTokensAndLongTokens_AndKeepsTheWords()
    {
        var headers = new RpcMetadata { { "authorization", "Bearer abc.def" }, { "x-key", "k1" } };
        string redacted = AuthorizationInterceptor.Redact(
            "token abc.def refused for key k1; signature AAAABBBBCCCCDDDD1234 is bad; Bearer abc.def", headers);
        Assert.Equal("token [redacted] refused for key k1; signature [redacted] is bad; [redacted]", redacted);
    }
}

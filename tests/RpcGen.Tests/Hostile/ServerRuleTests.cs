using RpcGen.Server;
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
    public void Redact_RemovesHeaderValuesBearerTokensAndLongTokens_AndKeepsTheWords()
    {
        var headers = new RpcMetadata { { "authorization", "Bearer abc.def" }, { "x-key", "k1" } };
        string redacted = AuthorizationInterceptor.Redact(
            "token abc.def refused for key k1; signature AAAABBBBCCCCDDDD1234 is bad; Bearer abc.def", headers);
        Assert.Equal("token [redacted] refused for key k1; signature [redacted] is bad; [redacted]", redacted);
    }
}

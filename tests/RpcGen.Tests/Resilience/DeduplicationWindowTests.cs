using Xunit;

namespace RpcGen.Tests.Resilience;

public sealed class DeduplicationWindowTests
{
    [Fact]
    public void Window_IsBoundedByCount_Bytes_AndAge()
    {
        var time = new FakeTimeProvider();
        var window = new DeduplicationWindow(capacity: 100, maxBytes: 1000, TimeSpan.FromMinutes(5), time);
        for (int i = 0; i < 250; i++)
        {
            DeduplicationWindow.Entry entry = window.Begin(Guid.NewGuid(), "orders/Charge", null!, (uint)i)!;
            window.Complete(entry, new byte[1], RpcStatusCode.OK, null, null);
        }

        Assert.InRange(window.Count, 100, 101);

        // 100 results of 100 bytes: only about ten fit in 1000 bytes.
        for (int i = 0; i < 100; i++)
        {
            DeduplicationWindow.Entry entry = window.Begin(Guid.NewGuid(), "orders/Charge", null!, (uint)i)!;
            window.Complete(entry, new byte[100], RpcStatusCode.OK, null, null);
        }

        Assert.InRange(window.Count, 10, 12);

        // Five minutes later the finished answers are gone.
        time.Advance(TimeSpan.FromMinutes(6));
        window.Begin(Guid.NewGuid(), "orders/Charge", null!, 1);
        Assert.Equal(1, window.Count);
    }

    [Fact]
    public void ARunningId_IsNotStartedAgain_AndAnAbandonedOneIs()
    {
        var window = new DeduplicationWindow(100, 1000, TimeSpan.FromMinutes(5), TimeProvider.System);
        var running = Guid.NewGuid();
        DeduplicationWindow.Entry? runningEntry = window.Begin(running, "orders/Charge", null!, 10);
        Assert.NotNull(runningEntry);
        // A duplicate of a running call is not started again: it waits for the first run's answer.
        Assert.Null(window.Begin(running, "orders/Charge", null!, 11));
        Assert.Single(runningEntry!.Waiters!);
        Assert.Equal(1, window.Count);

        var id = Guid.NewGuid();
        DeduplicationWindow.Entry? first = window.Begin(id, "orders/Charge", null!, 1);
        Assert.NotNull(first);
        window.Abandon(first!, RpcStatusCode.Cancelled, "cancelled");
        Assert.NotNull(window.Begin(id, "orders/Charge", null!, 2)); // the handler gave up: a retry may run it
        Assert.NotNull(window.Begin(id, "orders/Refund", null!, 3)); // the same id for another method is another call
    }
}

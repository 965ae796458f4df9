using System.Collections.Concurrent;

namespace RpcGen.Tests.Support;

/// <summary>
/// A fake clock (<see cref="FakeTimeProvider"/>, advanced by hand through <see cref="Fake"/>) that counts the timers
/// made and the changes made to them, per kind of owner (the type of the timer's state), so a test can say how many
/// timer operations a path costs.
/// </summary>
public sealed class CountingTimeProvider : TimeProvider
{
    public FakeTimeProvider Fake { get; } = new();

    public ConcurrentDictionary<string, int> Created { get; } = new();

    public ConcurrentDictionary<string, int> Changes { get; } = new();

    public override long GetTimestamp() => Fake.GetTimestamp();

    public override long TimestampFrequency => Fake.TimestampFrequency;

    public override DateTimeOffset GetUtcNow() => Fake.GetUtcNow();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        string owner = state?.GetType().Name ?? "none";
        Created.AddOrUpdate(owner, 1, static (_, n) => n + 1);
        return new CountingTimer(Fake.CreateTimer(callback, state, dueTime, period), this, owner);
    }

    private sealed class CountingTimer(ITimer inner, CountingTimeProvider time, string owner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            time.Changes.AddOrUpdate(owner, 1, static (_, n) => n + 1);
            return inner.Change(dueTime, period);
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}

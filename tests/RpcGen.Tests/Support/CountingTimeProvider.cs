using System.Collections.Concurrent;

namespace RpcGen.Tests.Support;

/// <summary>
/// A fake clock (<see cref="FakeTimeProvider"/>, advanced by hand through <see cref="Fake"/>) that counts the timers
/// made and the changes made to them, per kind of owner (the type of the timer's state), and the clock's reads, so a
/// test can say how many timer operations and clock reads a path costs.
/// </summary>
public sealed class CountingTimeProvider : TimeProvider
{
    public FakeTimeProvider Fake { get; } = new();

    public ConcurrentDictionary<string, int> Created { get; } = new();

    public ConcurrentDictionary<string, int> Changes { get; } = new();

    /// <summary>How many timers were made so far, of every kind.</summary>
    public int TimersCreated => Created.Values.Sum();

    /// <summary>
    /// Waits until more than <paramref name="before"/> timers were made: code that reports a failure and then starts a
    /// delay is only waiting once the delay's timer exists, and advancing the clock before that moves a clock no one
    /// waits on yet.
    /// </summary>
    public Task TimerCreatedAsync(int before, string what) => Wait.UntilAsync(() => TimersCreated > before, what);

    private long _reads;

    /// <summary>How many times <see cref="GetTimestamp"/> was called.</summary>
    public long Reads => Interlocked.Read(ref _reads);

    public override long GetTimestamp()
    {
        Interlocked.Increment(ref _reads);
        return Fake.GetTimestamp();
    }

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

using System.Diagnostics;
using RpcGen.Admin.Internal;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Admin;

/// <summary>The rules behind the admin page's figures: buckets, percentiles, failures, recent outcomes, the event ring, the watch.</summary>
[Collection(SerialCollection.Name)]
public sealed class LiveStatsTests : IDisposable
{
    public void Dispose() => AdminWatch.Default.StopForTests();

    [Theory]
    [InlineData(0, 0)]
    [InlineData(7, 7)]
    [InlineData(8, 8)]
    [InlineData(9, 8)]
    [InlineData(10, 9)]
    [InlineData(15, 11)]
    [InlineData(16, 12)]
    [InlineData(1_000, 35)]
    [InlineData(long.MaxValue, 111)]
    public void BucketsAreExactBelowEightThenFourPerPowerOfTwo(long microseconds, int bucket) =>
        Assert.Equal(bucket, LatencyWindow.BucketOf(microseconds));

    [Fact]
    public void EveryBucketsMiddleLiesInsideIt_SoAPercentileIsWithinAnEighth()
    {
        for (long us = 8; us < 100_000_000; us = (us * 9 / 8) + 1)
        {
            double middle = LatencyWindow.MiddleOf(LatencyWindow.BucketOf(us));
            Assert.InRange(middle / us, 1 / 1.25, 1.25);
        }
    }

    [Fact]
    public void PercentilesCountAndFailuresComeFromWhatWasRecorded()
    {
        LiveStats.Enable();
        var window = new LatencyWindow();
        for (int i = 1; i <= 1000; i++)
        {
            window.Record(i * 10, i % 100 == 0 ? 14 : 0, failed: i % 100 == 0, Stopwatch.GetTimestamp()); // 10 µs … 10 ms, 1 % failing
        }

        WindowFigures figures = window.Read();
        Assert.Equal(1000, figures.Count);
        Assert.Equal(0.99, figures.SuccessRate, 3);
        Assert.InRange(figures.P50, 5.0 * 0.875, 5.0 * 1.125); // ms
        Assert.InRange(figures.P95, 9.5 * 0.875, 9.5 * 1.125);
        Assert.InRange(figures.P99, 9.9 * 0.875, 9.9 * 1.125);
        Assert.True(figures.P50 <= figures.P95 && figures.P95 <= figures.P99);
        Assert.True(figures.PerSecond > 0);
    }

    [Fact]
    public void PastTheQuotaFewCallsAreTimed_ButEveryCallIsCounted()
    {
        LiveStats.Enable();
        var window = new LatencyWindow();
        const int Calls = 4000;
        int timed = 0;
        for (int i = 0; i < Calls; i++)
        {
            long begun = window.Begin();
            timed += begun >= 0 ? 1 : 0;
            window.End(begun, i % 10 == 0 ? 14 : 0, failed: i % 10 == 0);
        }

        WindowFigures figures = window.Read();
        Assert.Equal(Calls, figures.Count);
        Assert.Equal(0.9, figures.SuccessRate, 3);
        Assert.True(timed >= LatencyWindow.TimedPerSecond, $"{timed} timed: every call up to the quota");
        Assert.True(timed < Calls / 4, $"{timed} of {Calls} timed: past the quota, one in {LatencyWindow.SampleEvery}");
        Assert.True(figures.P99 >= figures.P50);
    }

    [Fact]
    public void OnlyTheLastTenSecondsCount_AndASlotIsClearedWhenItsSecondComesRound()
    {
        LiveStats.Disable(); // no timer moves the second under the test
        var window = new LatencyWindow();
        const long Second = 1_000_000;
        LiveStats.SetCurrentSecond(Second);
        window.Record(100, 0, failed: false, 1);
        window.Record(100, 14, failed: true, 2);
        LiveStats.SetCurrentSecond(Second + 9);
        window.Record(2_000, 0, failed: false, 3);

        WindowFigures both = window.Read((Second + 9) * 1000);
        Assert.Equal(3, both.Count);
        Assert.Equal(2 / 3.0, both.SuccessRate, 3);
        Assert.Equal(0, window.Read((Second + 20) * 1000).Count); // ten seconds later: nothing is that recent
        Assert.Equal(1, window.Read((Second + 10) * 1000).Count); // the first second has left the window

        LiveStats.SetCurrentSecond(Second + 10); // the first second's slot again: cleared before it counts
        window.Record(300, 0, failed: false, 4);
        WindowFigures later = window.Read((Second + 10) * 1000);
        Assert.Equal(2, later.Count);
        Assert.Equal(1.0, later.SuccessRate);
        Assert.InRange(later.P50, 0.3 * 0.875, 0.3 * 1.125);
        Assert.InRange(later.P99, 2.0 * 0.875, 2.0 * 1.125);
    }

    [Fact]
    public void ACallBegunAndEndedIsTimedInMilliseconds()
    {
        LiveStats.Enable();
        var window = new LatencyWindow();
        long begun = System.Diagnostics.Stopwatch.GetTimestamp() - (System.Diagnostics.Stopwatch.Frequency / 1000 * 3); // 3 ms ago
        window.End(begun, 0, failed: false);
        WindowFigures figures = window.Read();
        Assert.Equal(1, figures.Count);
        Assert.InRange(figures.P50, 3 * 0.875, 3 * 1.5);
    }

    [Fact]
    public void AnEmptyWindowHasNoFigures()
    {
        WindowFigures figures = new LatencyWindow().Read();
        Assert.Equal(0, figures.Count);
        Assert.True(double.IsNaN(figures.SuccessRate));
        Assert.True(double.IsNaN(figures.P99));
    }

    [Fact]
    public void TheRecentOutcomesAreTheLastSixteenOldestFirst()
    {
        Assert.Empty(new LatencyWindow().RecentOutcomes()); // a method's window keeps none
        var window = new LatencyWindow(keepRecent: true);
        Assert.Empty(window.RecentOutcomes());
        for (int i = 0; i < 20; i++)
        {
            window.Record(5, i, failed: false, endedAt: Stopwatch.GetTimestamp() + i);
        }

        Assert.Equal(Enumerable.Range(4, 16), window.RecentOutcomes());
    }

    [Fact]
    public async Task RacingFirstCallsShareOneWindow()
    {
        LatencyWindow? field = null;
        LatencyWindow[] seen = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => LatencyWindow.GetOrCreate(ref field))));
        Assert.All(seen, w => Assert.Same(field, w));
    }

    [Fact]
    public void TheEventRingKeepsTheLast512_AndAfterReturnsOnlyNewerOnes()
    {
        long first = RecentEvents.Next;
        for (int i = 0; i < RecentEvents.Capacity + 100; i++)
        {
            RecentEvents.Add("test", "source", "subject " + i, "detail");
        }

        List<RecentEvent> all = RecentEvents.After(0, int.MaxValue);
        Assert.Equal(RecentEvents.Capacity, all.Count);
        Assert.Equal("subject " + (RecentEvents.Capacity + 99), all[^1].Subject);
        Assert.Equal(first + RecentEvents.Capacity + 99, all[^1].Sequence);
        Assert.True(all.Zip(all.Skip(1)).All(p => p.Second.Sequence == p.First.Sequence + 1), "in order, without gaps");

        List<RecentEvent> newer = RecentEvents.After(all[^3].Sequence, int.MaxValue);
        Assert.Equal(new[] { all[^2].Sequence, all[^1].Sequence }, newer.Select(e => e.Sequence));
        Assert.Empty(RecentEvents.After(all[^1].Sequence, int.MaxValue));
        Assert.Equal(10, RecentEvents.After(0, 10).Count);
    }

    [Fact]
    public void TheFiguresStayOnWhileAskedFor_AndStop30SecondsAfterTheLastRequest()
    {
        var time = new FakeTimeProvider();
        var watch = new AdminWatch(time);
        LiveStats.Disable();
        watch.Touch();
        Assert.True(LiveStats.Enabled);
        time.Advance(TimeSpan.FromSeconds(20));
        watch.Touch(); // the page asks again
        time.Advance(TimeSpan.FromSeconds(25));
        Assert.True(LiveStats.Enabled, "45 s after the first request, 25 s after the last");
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(LiveStats.Enabled, "35 s after the last request");
        Assert.False(watch.Watching);
        watch.Touch();
        Assert.True(LiveStats.Enabled);
        watch.StopForTests();
    }
}

using System.Threading.Channels;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Balancing;

/// <summary>
/// The rules <see cref="RpcEndpointSource"/> owns for every source (etcd, DNS, service discovery, a user's), on a source
/// whose resolutions the test answers one by one, and what a client does before its source's first list.
/// </summary>
public sealed class EndpointSourceTests
{
    /// <summary>A source whose each resolution takes the next answer the test writes: a list, or an error.</summary>
    private sealed class ScriptedSource : RpcEndpointSource
    {
        private readonly Channel<object> _answers = Channel.CreateUnbounded<object>();

        public ScriptedSource(TimeProvider? time = null) : base("scripted", TimeSpan.FromSeconds(5), timeProvider: time)
        {
        }

        public int Resolutions;

        public bool Cancelled;

        public void Answer(params RpcEndpoint[] endpoints) => _answers.Writer.TryWrite(endpoints);

        public void Fail(string reason) => _answers.Writer.TryWrite(new IOException(reason));

        protected override async Task ResolveAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Resolutions);
            try
            {
                while (true) // a watching source: each answer is the next change, until one fails
                {
                    object answer = await _answers.Reader.ReadAsync(cancellationToken);
                    if (answer is Exception error)
                    {
                        throw error;
                    }

                    Publish((RpcEndpoint[])answer);
                }
            }
            catch (OperationCanceledException)
            {
                Cancelled = true;
                throw;
            }
        }
    }

    private static RpcEndpoint E(string text, int weight = 100, string? zone = null) => RpcEndpoint.Parse(text).With(weight, zone);

    [Fact]
    public async Task NothingResolves_UntilSomeoneSubscribes_AndSubscribingDoesNotWait()
    {
        await using var source = new ScriptedSource();
        Assert.Equal(0, Volatile.Read(ref source.Resolutions));
        var lists = new List<IReadOnlyList<RpcEndpoint>>();
        using IDisposable subscription = source.Subscribe(lists.Add); // returns although no answer was written
        await Wait.UntilAsync(() => Volatile.Read(ref source.Resolutions) == 1, "the first resolution starts");
        Assert.Empty(lists);
        Assert.False(source.HasResolved);

        source.Answer(E("b:1"), E("a:1"));
        await Wait.UntilAsync(() => lists.Count == 1, "the first list arrives");
        Assert.Equal(new[] { "a:1", "b:1" }, lists[0].Select(e => e.ToString())); // sorted by address
        Assert.True(source.HasResolved);

        var late = new List<IReadOnlyList<RpcEndpoint>>();
        using IDisposable second = source.Subscribe(late.Add);
        Assert.Single(late); // a later subscriber hears the current list at once
    }

    [Fact]
    public async Task AnUnchangedList_IsNotPublishedAgain_ButChangedMetadataIs()
    {
        var time = new CountingTimeProvider();
        await using var source = new ScriptedSource(time);
        var lists = new List<IReadOnlyList<RpcEndpoint>>();
        using IDisposable subscription = source.Subscribe(lists.Add);
        source.Answer(E("a:1"), E("b:1"));
        await Wait.UntilAsync(() => lists.Count == 1, "the first list");

        // Each failure ends the resolution; the next one after the retry delay gets the next answer.
        async Task ResolveAgainAsync(params RpcEndpoint[] answer)
        {
            int before = Volatile.Read(ref source.Resolutions);
            int timers = time.TimersCreated;
            source.Fail("next");
            await time.TimerCreatedAsync(timers, "the retry delay starts");
            source.Answer(answer);
            time.Fake.Advance(source.RetryDelay);
            await Wait.UntilAsync(() => Volatile.Read(ref source.Resolutions) == before + 1 && !source.IsStale, "the next resolution");
        }

        await ResolveAgainAsync(E("b:1"), E("a:1")); // the same set in another order
        Assert.Single(lists);
        await ResolveAgainAsync(E("b:1", weight: 50), E("a:1"));
        Assert.Equal(2, lists.Count);
        await ResolveAgainAsync(E("b:1", weight: 50), E("a:1", zone: "z1"));
        Assert.Equal(3, lists.Count);
        await ResolveAgainAsync(E("a:1", zone: "z1"));
        Assert.Equal(4, lists.Count);
        Assert.Equal("a:1", Assert.Single(lists[^1]).ToString());
    }

    [Fact]
    public async Task AFailure_KeepsTheLastList_SaysWhy_AndRetriesAfterTheDelay_NotBefore()
    {
        var time = new CountingTimeProvider();
        await using var source = new ScriptedSource(time);
        var lists = new List<IReadOnlyList<RpcEndpoint>>();
        var errors = new List<Exception>();
        using IDisposable subscription = source.Subscribe(lists.Add, errors.Add);
        source.Answer(E("a:1"));
        await Wait.UntilAsync(() => lists.Count == 1, "the first list");

        int timers = time.TimersCreated;
        source.Fail("registry down");
        await time.TimerCreatedAsync(timers, "the retry delay starts");
        Assert.Equal("registry down", source.LastError!.Message);
        Assert.Equal("a:1", Assert.Single(source.Endpoints).ToString()); // the last list stays
        Assert.Empty(errors); // after a list, failures are staleness, not errors for the subscribers
        Assert.Equal(1, Volatile.Read(ref source.Resolutions));

        Assert.True(source.IsStale);
        time.Fake.Advance(source.RetryDelay - TimeSpan.FromMilliseconds(1));
        await Task.Delay(50);
        Assert.Equal(1, Volatile.Read(ref source.Resolutions)); // not before the delay
        time.Fake.Advance(TimeSpan.FromMilliseconds(1));
        await Wait.UntilAsync(() => Volatile.Read(ref source.Resolutions) == 2, "the retry");
        source.Answer(E("a:1"));
        await Wait.UntilAsync(() => !source.IsStale, "the recovery");
        Assert.Null(source.LastError);
    }

    [Fact]
    public async Task BeforeTheFirstList_FailuresReachSubscribers_AndWaitForEndpointsThrowsWithTheReason()
    {
        var time = new CountingTimeProvider();
        await using var source = new ScriptedSource(time);
        var errors = new List<Exception>();
        using IDisposable subscription = source.Subscribe(_ => { }, errors.Add);
        int timers = time.TimersCreated;
        source.Fail("no such service");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => source.WaitForEndpointsAsync()).WaitAsync(Wait.NoHang);
        Assert.Equal("scripted has no endpoints: no such service", error.Message);
        Assert.Equal("no such service", Assert.Single(errors).Message);

        var lateErrors = new List<Exception>();
        using IDisposable late = source.Subscribe(_ => { }, lateErrors.Add);
        Assert.Single(lateErrors); // a subscriber that comes later hears the failure at once

        await time.TimerCreatedAsync(timers, "the retry delay starts");
        source.Answer(E("a:1"));
        time.Fake.Advance(source.RetryDelay);
        await Wait.UntilAsync(() => source.HasResolved, "the retry's list");
        await source.WaitForEndpointsAsync().WaitAsync(Wait.NoHang); // at once: there is a list
        Assert.Equal("a:1", Assert.Single(source.Endpoints).ToString());
    }

    [Fact]
    public async Task Dispose_CancelsTheResolution_AndKeepsTheLastList_ForSubscribers()
    {
        var source = new ScriptedSource();
        var lists = new List<IReadOnlyList<RpcEndpoint>>();
        source.Subscribe(lists.Add);
        source.Answer(E("a:1"));
        await Wait.UntilAsync(() => lists.Count == 1, "the first list");
        await source.DisposeAsync().AsTask().WaitAsync(Wait.NoHang);
        Assert.True(source.Cancelled);
        Assert.Single(source.Endpoints);
        Assert.Throws<ObjectDisposedException>(() => source.Subscribe(lists.Add));
    }

    [Fact]
    public async Task AClient_IsCreatedWithoutWaiting_ItsFirstCallWaitsForTheFirstList_AndGoesThere()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        await using var source = new ScriptedSource();
        await using var client = new RpcClient(new RpcClientOptions { EndpointSource = source });
        Task<string> call = client.CreateProxy<ICalculator>().WhoAmIAsync();
        await Wait.UntilAsync(() => Volatile.Read(ref source.Resolutions) == 1, "the source is resolving");
        Assert.False(call.IsCompleted); // waiting for the list, not failed for want of endpoints
        source.Answer(cluster.Servers[0].Endpoints[0]);
        Assert.Equal("server-0", await call.WaitAsync(Wait.NoHang));
        RpcEndpointState endpoint = Assert.Single(client.Endpoints);
        Assert.Equal(100, endpoint.GetWeight(client.Options.TimeProvider.GetTimestamp())); // the first list starts at full weight: no slow start
    }

    [Fact]
    public async Task AClientCall_BeforeAnyList_EndsAtItsDeadline_WithDeadlineExceeded_NamingTheSource()
    {
        await using var source = new ScriptedSource();
        var options = new RpcClientOptions { EndpointSource = source };
        options.Resilience.Policies["calc"] = new RpcPolicyOverride { TimeoutMs = 200 }; // instead of ICalculator's [Timeout(5000)]
        await using var client = new RpcClient(options);
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<ICalculator>().WhoAmIAsync()).WaitAsync(Wait.NoHang);
        Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
        Assert.Contains("before scripted resolved any endpoints", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AClientCall_WaitingForTheFirstList_FailsAtOnce_WhenTheFirstResolutionFails_AndWorksOnceAListCame()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        var time = new CountingTimeProvider();
        await using var source = new ScriptedSource(time);
        var options = new RpcClientOptions { EndpointSource = source, Resilience = { DefaultTimeout = Timeout.InfiniteTimeSpan } };
        await using var client = new RpcClient(options);
        ICalculator calculator = client.CreateProxy<ICalculator>();
        Task<string> waiting = calculator.WhoAmIAsync();
        await Wait.UntilAsync(() => Volatile.Read(ref source.Resolutions) == 1, "the source is resolving");
        int timers = time.TimersCreated;
        source.Fail("registry unreachable");
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => waiting).WaitAsync(Wait.NoHang);
        Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
        Assert.Equal("'calc/WhoAmI' has no endpoints yet: scripted failed to resolve them (registry unreachable); it keeps trying.", error.Message);
        Assert.True(error.NotProcessed);
        await Assert.ThrowsAsync<RpcException>(() => calculator.WhoAmIAsync()).WaitAsync(Wait.NoHang); // new calls too, at once

        await time.TimerCreatedAsync(timers, "the retry delay starts"); // the calls fail before the source starts its delay
        source.Answer(cluster.Servers[0].Endpoints[0]);
        time.Fake.Advance(source.RetryDelay);
        await Wait.UntilAsync(() => source.HasResolved, "the retry succeeds");
        Assert.Equal("server-0", await calculator.WhoAmIAsync().WaitAsync(Wait.NoHang));
    }
}

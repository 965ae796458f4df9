using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Client;

/// <summary>
/// Each rule of an attempt's pick on its own: endpoints this call tried are left out, a retry that tried them all may go
/// back to one, open circuits are skipped and, when every circuit is open, the call fails fast; a used-up priority
/// group fails over to the others.
/// </summary>
public sealed class EndpointPickerTests : IAsyncDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly RpcClient _client;
    private readonly RpcClientMethod _method;
    private readonly EndpointPicker _picker;

    public EndpointPickerTests()
    {
        _client = Client(new RpcEndpoint("127.0.0.1", 1), new RpcEndpoint("127.0.0.1", 2), new RpcEndpoint("127.0.0.1", 3));
        _method = _client.Invoker.GetMethod(RpcServiceRegistry.GetDescriptor<ICalculator>()!.Methods[0]);
        _picker = new EndpointPicker(_client);
    }

    private RpcClient Client(params RpcEndpoint[] endpoints)
    {
        var options = new RpcClientOptions { TimeProvider = _time }; // never dialled: only picked
        foreach (RpcEndpoint endpoint in endpoints)
        {
            options.Endpoints.Add(endpoint);
        }

        options.Balancing.OutlierDetection.Enabled = false;
        return new RpcClient(options);
    }

    public async ValueTask DisposeAsync() => await _client.DisposeAsync();

    private RpcEndpointState[] All => _client.EndpointSet.All;

    private RpcEndpointState? Pick(ref TriedEndpoints tried, bool allowRepeat = false, CircuitBreakerGroup? breaker = null)
    {
        bool picked = _picker.TryPick(_method, 0, ref tried, _time.GetTimestamp(), allowRepeat, breaker, out RpcEndpointState? endpoint, out RpcException? refused);
        Assert.True(picked, refused?.Message);
        return endpoint;
    }

    [Fact]
    public void EndpointsThisCallTried_AreNotPickedAgain()
    {
        for (int i = 0; i < 50; i++)
        {
            TriedEndpoints tried = default(TriedEndpoints).Add(All[0].Id).Add(All[1].Id);
            Assert.Same(All[2], Pick(ref tried));
        }
    }

    [Fact]
    public void WhenEveryEndpointWasTried_ThePickIsNone_UnlessARepeatIsAllowed()
    {
        TriedEndpoints tried = default;
        foreach (RpcEndpointState endpoint in All)
        {
            tried = tried.Add(endpoint.Id);
        }

        TriedEndpoints kept = tried;
        Assert.Null(Pick(ref kept));
        Assert.Equal(3, kept.Count);

        RpcEndpointState? again = Pick(ref tried, allowRepeat: true);
        Assert.Contains(again, All);
        Assert.True(tried.IsEmpty); // failover starts over: the repeat is one of the endpoints tried before
    }

    [Fact]
    public void OpenCircuits_AreSkipped_AndEveryCircuitOpen_FailsFastAsNotProcessed()
    {
        var policy = new RpcCircuitBreakerPolicy { FailureRatio = 0.5, MinimumThroughput = 2, BreakDurationMs = 10_000 };
        var breaker = new CircuitBreakerGroup(policy, _time);
        void Open(RpcEndpointState endpoint)
        {
            for (int i = 0; i < 4; i++)
            {
                breaker.OnAttempt(endpoint.Id, _time.GetTimestamp());
                breaker.Record(endpoint, failure: true, _time.GetTimestamp());
            }
        }

        Open(All[0]);
        Open(All[1]);
        for (int i = 0; i < 50; i++)
        {
            TriedEndpoints none = default;
            Assert.Same(All[2], Pick(ref none, breaker: breaker));
        }

        Open(All[2]);
        TriedEndpoints tried = default;
        bool picked = _picker.TryPick(_method, 0, ref tried, _time.GetTimestamp(), allowRepeat: true, breaker, out RpcEndpointState? endpoint, out RpcException? refused);
        Assert.False(picked);
        Assert.Null(endpoint);
        Assert.Equal(RpcStatusCode.Unavailable, refused!.StatusCode);
        Assert.True(refused.NotProcessed);
        Assert.Contains("Every endpoint's circuit is open", refused.Message, StringComparison.Ordinal);

        // Once the break has passed, calls go through again.
        _time.Advance(TimeSpan.FromSeconds(11));
        TriedEndpoints later = default;
        Assert.NotNull(Pick(ref later, breaker: breaker));
    }

    [Fact]
    public async Task AUsedUpPriorityGroup_FailsOverToTheNext()
    {
        await using RpcClient client = Client(
            new RpcEndpoint("127.0.0.1", 1) { Priority = 0 },
            new RpcEndpoint("127.0.0.1", 2) { Priority = 0 },
            new RpcEndpoint("127.0.0.1", 3) { Priority = 1 });
        RpcClientMethod method = client.Invoker.GetMethod(RpcServiceRegistry.GetDescriptor<ICalculator>()!.Methods[0]);
        var picker = new EndpointPicker(client);
        RpcEndpointState[] all = client.EndpointSet.All;
        RpcEndpointState backup = all.Single(e => e.Endpoint.Priority == 1);
        for (int i = 0; i < 50; i++)
        {
            TriedEndpoints fresh = default;
            Assert.True(picker.TryPick(method, 0, ref fresh, _time.GetTimestamp(), false, null, out RpcEndpointState? primary, out _));
            Assert.Equal(0, primary!.Endpoint.Priority); // healthy primaries take every call

            TriedEndpoints primariesTried = default;
            foreach (RpcEndpointState e in all.Where(e => e.Endpoint.Priority == 0))
            {
                primariesTried = primariesTried.Add(e.Id);
            }

            Assert.True(picker.TryPick(method, 0, ref primariesTried, _time.GetTimestamp(), false, null, out RpcEndpointState? failover, out _));
            Assert.Same(backup, failover);
        }
    }
}

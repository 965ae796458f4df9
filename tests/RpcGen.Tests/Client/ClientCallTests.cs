using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Client;

/// <summary>
/// The per-call context's pool: only the layer that owns a call returns it, a returned context carries nothing of its
/// call into the next, and a context whose attempts run at once (hedging, broadcast) is never reused.
/// </summary>
public sealed class ClientCallTests : IAsyncDisposable
{
    private readonly RpcClient _client = new(new RpcClientOptions { Endpoints = { new RpcEndpoint("127.0.0.1", 1) } });

    public async ValueTask DisposeAsync() => await _client.DisposeAsync();

    private RpcClientMethod Method<TService>(int index)
        where TService : class =>
        _client.Invoker.GetMethod(RpcServiceRegistry.GetDescriptor<TService>()!.Methods[index]);

    private ClientCall Rent(RpcClientMethod method, bool intercepted = false) =>
        ClientCall.Rent(_client, method, CallDeadline.Begin(method, _client.TimeProvider), 7, intercepted, default);

    [Fact]
    public void OnlyTheOwner_ReturnsTheContext_AndTheNextCallStartsClean()
    {
        RpcClientMethod charge = Method<IOrders>(2); // [Deduplicate], [Retry]: owned by the policies
        ClientCall first = Rent(charge);
        Assert.Equal(CallOwner.Policies, first.Owner);
        Assert.Equal(7, first.CallId.Version); // time-ordered (CallIds), not Guid.NewGuid's version 4
        Guid firstId = first.CallId;
        first.AddTried(3);
        first.NextAttempt();
        first.Sticky = _client.Endpoints[0];

        ClientCall.Return(first, CallOwner.Attempt); // not the owner: kept
        Assert.Same(charge, first.Method);
        ClientCall.Return(first, CallOwner.Policies);

        RpcClientMethod add = Method<ICalculator>(0); // no policies: owned by its one attempt
        ClientCall next = Rent(add);
        Assert.Same(first, next); // this thread's pooled instance
        Assert.Equal(CallOwner.Attempt, next.Owner);
        Assert.Same(add, next.Method);
        Assert.Null(next.Policies);
        Assert.True(next.Tried.IsEmpty);
        Assert.Equal(0, next.Attempts);
        Assert.Null(next.Sticky);
        Assert.Equal(Guid.Empty, next.CallId); // no [Deduplicate], no id
        Assert.Equal(7ul, next.HashKey);
        ClientCall.Return(next, CallOwner.Attempt);
        Assert.NotEqual(firstId, Rent(charge).CallId); // every call its own id
    }

    [Fact]
    public void AHedgedOrBroadcastCall_GetsItsOwnContext_NeverReused()
    {
        ClientCall hedged = Rent(Method<IOrders>(3)); // QuoteAsync: [Hedging]
        Assert.True(hedged.Concurrent);
        ClientCall.Return(hedged, hedged.Owner);
        ClientCall broadcast = Rent(Method<IOrders>(4)); // InvalidateAsync: [Broadcast]
        Assert.True(broadcast.Concurrent);
        Assert.NotSame(hedged, broadcast);
        Assert.Equal(Guid.Empty, broadcast.CallId);
    }

    [Fact]
    public void AnInterceptedCall_IsOwnedByTheInterceptorsWrapper()
    {
        ClientCall call = Rent(Method<ICalculator>(0), intercepted: true);
        Assert.Equal(CallOwner.Interceptors, call.Owner);
        Assert.Equal(0, call.FirstAttemptStart); // its first attempt reads the clock again, after the interceptors ran
    }
}

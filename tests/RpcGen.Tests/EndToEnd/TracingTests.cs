using System.Collections.Concurrent;
using System.Diagnostics;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

[RpcService("hop-a")]
public interface IHopA
{
    Task<string> RelayAsync(bool fail, CancellationToken ct = default);
}

[RpcService("hop-b")]
public interface IHopB
{
    Task<string> EndAsync(bool fail, CancellationToken ct = default);
}

public sealed class HopA(IHopB next) : IHopA
{
    public Task<string> RelayAsync(bool fail, CancellationToken ct = default) => next.EndAsync(fail, ct);
}

public sealed class HopB : IHopB
{
    public Task<string> EndAsync(bool fail, CancellationToken ct = default) =>
        fail ? throw new RpcException(RpcStatusCode.NotFound, "nothing here") : Task.FromResult(Activity.Current?.TraceId.ToHexString() ?? "none");
}

/// <summary>Spans on the RpcGen activity source, and W3C trace context across two hops over TCP.</summary>
public sealed class TracingTests
{
    [Fact]
    public async Task ATraceCrossesTwoHops_OneTraceId_ParentsInOrder_WithRpcConventionTags()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == RpcGenTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.DisplayName.StartsWith("hop-", StringComparison.Ordinal))
                {
                    spans.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        await using var serverB = new RpcServer();
        serverB.Map<IHopB>(new HopB());
        await serverB.StartAsync();
        await using var toB = new RpcClient(new RpcClientOptions { Endpoints = { serverB.Endpoints[0] } });
        await using var serverA = new RpcServer();
        serverA.Map<IHopA>(new HopA(toB.CreateProxy<IHopB>()));
        await serverA.StartAsync();
        await using var toA = new RpcClient(new RpcClientOptions { Endpoints = { serverA.Endpoints[0] } });

        string traceSeenByB;
        using (var caller = new ActivitySource("RpcGen.Tests.Caller"))
        using (var callerListener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "RpcGen.Tests.Caller",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        })
        {
            ActivitySource.AddActivityListener(callerListener);
            using Activity request = caller.StartActivity("request")!;
            request.AddBaggage("tenant", "acme corp"); // W3C baggage travels with the trace, through both hops
            traceSeenByB = await toA.CreateProxy<IHopA>().RelayAsync(fail: false);
        }

        await Wait.UntilAsync(() => spans.Count >= 4);

        Activity[] all = spans.ToArray();
        Activity clientA = Single(all, "hop-a/Relay", ActivityKind.Client);
        Activity serverSideA = Single(all, "hop-a/Relay", ActivityKind.Server);
        Activity clientB = Single(all, "hop-b/End", ActivityKind.Client);
        Activity serverSideB = Single(all, "hop-b/End", ActivityKind.Server);
        Assert.All(all, span => Assert.Equal(clientA.TraceId, span.TraceId));
        Assert.Equal("acme corp", Single(all, "hop-b/End", ActivityKind.Server).GetBaggageItem("tenant"));
        Assert.Equal(clientA.TraceId.ToHexString(), traceSeenByB);
        Assert.Equal(clientA.SpanId, serverSideA.ParentSpanId);
        Assert.Equal(serverSideA.SpanId, clientB.ParentSpanId);     // a call made inside a handler is its child
        Assert.Equal(clientB.SpanId, serverSideB.ParentSpanId);
        Assert.Equal("rpcgen", serverSideB.GetTagItem("rpc.system"));
        Assert.Equal(("hop-b", "End", 0), ((string)serverSideB.GetTagItem("rpc.service")!, (string)serverSideB.GetTagItem("rpc.method")!, (int)serverSideB.GetTagItem("rpc.rpcgen.status_code")!));

        // A failure marks every span on the way back with its status.
        spans.Clear();
        await Assert.ThrowsAsync<RpcException>(() => toA.CreateProxy<IHopA>().RelayAsync(fail: true));
        await Wait.UntilAsync(() => spans.Count >= 4);
        Assert.All(spans, span => Assert.Equal(ActivityStatusCode.Error, span.Status));
        Assert.Equal((int)RpcStatusCode.NotFound, Single(spans.ToArray(), "hop-b/End", ActivityKind.Server).GetTagItem("rpc.rpcgen.status_code"));
        Assert.Equal("NotFound", Single(spans.ToArray(), "hop-a/Relay", ActivityKind.Client).GetTagItem("error.type"));
    }

    private static Activity Single(Activity[] spans, string name, ActivityKind kind) =>
        Assert.Single(spans, s => s.DisplayName == name && s.Kind == kind);
}

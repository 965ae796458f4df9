using System.Collections.Concurrent;
using System.Text;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

[RpcService("flaky")]
public interface IFlaky
{
    /// <summary>Fails with Unavailable until it has been called <paramref name="failures"/> + 1 times.</summary>
    [Idempotent, Retry(MaxAttempts = 3, InitialBackoffMs = 1, MaxBackoffMs = 2)]
    Task<int> AddAsync(int a, int b, int failures, CancellationToken ct = default);
}

public sealed class Flaky : IFlaky
{
    public int Calls;
    public ConcurrentQueue<string> Seen { get; } = new();

    public Task<int> AddAsync(int a, int b, int failures, CancellationToken ct = default)
    {
        int call = Interlocked.Increment(ref Calls);
        RpcCallContext context = RpcCallContext.Current!;
        Seen.Enqueue($"trace={context.RequestHeaders.GetValue("trace")} attempt={context.RequestHeaders.GetValue("attempt")}");
        context.ResponseTrailers.Add("handler", "ran");
        return call <= failures ? throw new RpcException(RpcStatusCode.Unavailable, "not yet") : Task.FromResult(a + b);
    }
}

/// <summary>Records what it sees; at the attempt level it adds the attempt's number as a header.</summary>
public sealed class RecordingClientInterceptor : RpcClientInterceptor
{
    private readonly string _name;
    private readonly ConcurrentQueue<string> _log;

    public RecordingClientInterceptor(string name, ConcurrentQueue<string> log) => (_name, _log) = (name, log);

    public override async ValueTask InterceptCallAsync(RpcOutgoingCall call, Func<RpcOutgoingCall, ValueTask> next)
    {
        _log.Enqueue($"{_name}.call>");
        if (_name == "A")
        {
            call.RequestHeaders.Add("trace", "t1");
        }

        await next(call);
        _log.Enqueue($"<{_name}.call {(call.Error is null ? "ok" : "failed")}");
    }

    public override async ValueTask InterceptAttemptAsync(RpcOutgoingCall call, Func<RpcOutgoingCall, ValueTask> next)
    {
        _log.Enqueue($"{_name}.attempt{call.Attempt}>");
        if (_name == "B")
        {
            call.RequestHeaders.Add("attempt", call.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        await next(call);
        _log.Enqueue($"<{_name}.attempt{call.Attempt} {(call.Error is null ? "ok" : "failed")} {call.ResponseTrailers?.GetValue("handler")}");
    }
}

public sealed class RecordingServerInterceptor : RpcServerInterceptor
{
    private readonly string _name;
    private readonly ConcurrentQueue<string> _log;

    public RecordingServerInterceptor(string name, ConcurrentQueue<string> log) => (_name, _log) = (name, log);

    public Func<RpcIncomingCall, Exception?>? Refuse { get; set; }

    public override async ValueTask InterceptAsync(RpcIncomingCall call, Func<RpcIncomingCall, ValueTask> next)
    {
        await Task.Yield(); // the payload must still be there after an interceptor awaited
        _log.Enqueue($"{_name}> {call.Method.FullName} {Encoding.UTF8.GetString(call.Payload.Span)}");
        if (Refuse?.Invoke(call) is { } refusal)
        {
            throw refusal;
        }

        await next(call);
        call.Context.ResponseTrailers.Add("seen-by", _name); // after next: the response has not left yet
        _log.Enqueue($"<{_name} ran={call.HandlerRan} {(call.Error is RpcException e ? e.StatusCode.ToString() : call.Error is null ? "ok" : "error")}");
    }
}

/// <summary>A server interceptor that forgets to call next and does not throw.</summary>
public sealed class ForgetfulInterceptor : RpcServerInterceptor
{
    public override ValueTask InterceptAsync(RpcIncomingCall call, Func<RpcIncomingCall, ValueTask> next) => default;
}

/// <summary>Interceptors on both sides: order, once per call versus once per attempt, outcomes, refusals.</summary>
public sealed class InterceptorTests
{
    [Fact]
    public async Task AServerInterceptorThatNeverCallsNext_FailsTheCallWithItsOwnMessage_NotAHandlerError()
    {
        var flaky = new Flaky();
        await using var server = new RpcServer(new RpcServerOptions { Interceptors = { new ForgetfulInterceptor() } });
        server.Map<IFlaky>(flaky);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });

        RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IFlaky>().AddAsync(1, 2, failures: 0));
        Assert.Equal(RpcStatusCode.Internal, error.StatusCode);
        Assert.Contains("returned without calling next or throwing", error.Message, StringComparison.Ordinal);
        Assert.Contains("no handler ran", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("thrown by handler", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, flaky.Calls);
    }

    [Fact]
    public async Task ClientInterceptors_RunOncePerCallAndOncePerAttempt_InOrder_AttemptHeadersStayTheAttempts()
    {
        var flaky = new Flaky();
        await using var server = new RpcServer();
        server.Map<IFlaky>(flaky);
        await server.StartAsync();
        var log = new ConcurrentQueue<string>();
        var options = new RpcClientOptions { Endpoints = { server.Endpoints[0] } };
        options.Interceptors.Add(new RecordingClientInterceptor("A", log));
        options.Interceptors.Add(new RecordingClientInterceptor("B", log));
        await using var client = new RpcClient(options);

        Assert.Equal(5, await client.CreateProxy<IFlaky>().AddAsync(2, 3, failures: 2));

        Assert.Equal(
            new[]
            {
                "A.call>", "B.call>",
                "A.attempt0>", "B.attempt0>", "<B.attempt0 failed ran", "<A.attempt0 failed ran",
                "A.attempt1>", "B.attempt1>", "<B.attempt1 failed ran", "<A.attempt1 failed ran",
                "A.attempt2>", "B.attempt2>", "<B.attempt2 ok ran", "<A.attempt2 ok ran",
                "<B.call ok", "<A.call ok",
            },
            log);
        // The call-level header reached every attempt; each attempt carried only its own attempt header.
        Assert.Equal(new[] { "trace=t1 attempt=0", "trace=t1 attempt=1", "trace=t1 attempt=2" }, flaky.Seen);
    }

    [Fact]
    public async Task ClientInterceptorThatThrows_FailsTheCallWithWhatItThrew_AndNothingIsSent()
    {
        var flaky = new Flaky();
        await using var server = new RpcServer();
        server.Map<IFlaky>(flaky);
        await server.StartAsync();
        var options = new RpcClientOptions { Endpoints = { server.Endpoints[0] } };
        options.Interceptors.Add(new ThrowingClientInterceptor());
        await using var client = new RpcClient(options);

        RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IFlaky>().AddAsync(1, 1, 0));
        Assert.Equal((RpcStatusCode.Unauthenticated, "no credentials"), (error.StatusCode, error.Message));
        Assert.Equal(0, flaky.Calls);
    }

    private sealed class ThrowingClientInterceptor : RpcClientInterceptor
    {
        public override ValueTask InterceptCallAsync(RpcOutgoingCall call, Func<RpcOutgoingCall, ValueTask> next) =>
            throw new RpcException(RpcStatusCode.Unauthenticated, "no credentials");
    }

    [Fact]
    public async Task ServerInterceptors_RunInOrder_SeeThePayloadAndTheOutcome_AndTheirTrailersStillLeave()
    {
        var flaky = new Flaky();
        var log = new ConcurrentQueue<string>();
        await using var server = new RpcServer(new RpcServerOptions { Interceptors = { new RecordingServerInterceptor("outer", log), new RecordingServerInterceptor("inner", log) } });
        server.Map<IFlaky>(flaky);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });

        using (RpcCallScope scope = RpcCallScope.Begin())
        {
            Assert.Equal(7, await client.CreateProxy<IFlaky>().AddAsync(3, 4, 0));
            Assert.Equal(new[] { "inner", "outer" }, scope.ResponseTrailers!.GetValues("seen-by"));
        }

        Assert.Equal(new[] { "outer> flaky/Add [3,4,0]", "inner> flaky/Add [3,4,0]", "<inner ran=True ok", "<outer ran=True ok" }, log);
    }

    [Fact]
    public async Task ServerInterceptorThatRefuses_SendsItsError_AndTheHandlerNeverRuns()
    {
        var flaky = new Flaky();
        var log = new ConcurrentQueue<string>();
        var guard = new RecordingServerInterceptor("guard", log)
        {
            Refuse = call => call.Context.RequestHeaders.GetValue("token") == "secret" ? null : new RpcException(RpcStatusCode.PermissionDenied, "who are you?"),
        };
        await using var server = new RpcServer(new RpcServerOptions { Interceptors = { new RecordingServerInterceptor("outer", log), guard } });
        server.Map<IFlaky>(flaky);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IFlaky proxy = client.CreateProxy<IFlaky>();

        RpcException denied = await Assert.ThrowsAsync<RpcException>(() => proxy.AddAsync(1, 2, 0));
        Assert.Equal((RpcStatusCode.PermissionDenied, "who are you?"), (denied.StatusCode, denied.Message));
        Assert.Equal("outer", denied.Trailers!.GetValue("seen-by")); // the outer interceptor saw the refusal, and said so
        Assert.Equal(0, flaky.Calls);
        Assert.Contains("<outer ran=False PermissionDenied", log);

        using (RpcCallScope scope = RpcCallScope.Begin(new RpcMetadata { { "token", "secret" } }))
        {
            Assert.Equal(3, await proxy.AddAsync(1, 2, 0));
        }

        // A handler's failure reaches the interceptors as the outcome and the caller as the error.
        RpcException failed = await Assert.ThrowsAsync<RpcException>(() =>
        {
            using RpcCallScope scope = RpcCallScope.Begin(new RpcMetadata { { "token", "secret" } });
            return proxy.AddAsync(1, 2, failures: 5);
        });
        Assert.Equal(RpcStatusCode.Unavailable, failed.StatusCode);
        Assert.Contains("<guard ran=True Unavailable", log);
    }
}

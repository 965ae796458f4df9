using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

/// <summary>Deadlines on a manual clock shared by client and server: nothing here sleeps.</summary>
public sealed class DeadlineTests
{
    private static async Task<(RpcServer, RpcClient, Calculator)> StartAsync(FakeTimeProvider time)
    {
        var server = new RpcServer(new RpcServerOptions { TimeProvider = time });
        var calculator = new Calculator("manual");
        server.Map<ICalculator>(calculator);
        await server.StartAsync();
        var client = new RpcClient(new RpcClientOptions { TimeProvider = time, Endpoints = { server.InProcessEndpoint } });
        return (server, client, calculator);
    }

    [Fact]
    public async Task MethodTimeout_FailsExactlyAtTheDeadline_AndTheHandlersTokenFires()
    {
        var time = new FakeTimeProvider();
        (RpcServer server, RpcClient client, Calculator calculator) = await StartAsync(time);
        await using (server)
        await using (client)
        {
            Task<int> call = client.CreateProxy<ICalculator>().SlowWithDeadlineAsync(60_000); // [Timeout(200)]
            await calculator.HandlerStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));

            time.Advance(TimeSpan.FromMilliseconds(199));
            await Task.Delay(20);
            Assert.False(call.IsCompleted);
            Assert.False(calculator.HandlerCancelled.Task.IsCompleted);

            time.Advance(TimeSpan.FromMilliseconds(2));
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
            Assert.True(await calculator.HandlerCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        }
    }

    [Fact]
    public async Task TheTimeSpentBeforeTheRequestLeaves_CountsAgainstTheDeadline()
    {
        // The attempt reads the clock once to start and, when it awaited nothing, sends with that same timestamp; here
        // it waits 150 ms of its 200 for credentials, so it must read the clock again: the call fails at 200 ms, not at
        // 150 + 200.
        var time = new FakeTimeProvider();
        var server = new RpcServer(new RpcServerOptions { TimeProvider = time });
        var calculator = new Calculator("manual");
        server.Map<ICalculator>(calculator);
        await server.StartAsync();
        var tokenAsked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var token = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var client = new RpcClient(new RpcClientOptions
        {
            TimeProvider = time,
            Endpoints = { server.InProcessEndpoint },
            Credentials = RpcCallCredentials.BearerToken(_ =>
            {
                tokenAsked.TrySetResult();
                return new ValueTask<string>(token.Task);
            }),
        });
        await using (server)
        await using (client)
        {
            Task<int> call = client.CreateProxy<ICalculator>().SlowWithDeadlineAsync(60_000); // [Timeout(200)]
            await tokenAsked.Task.WaitAsync(TimeSpan.FromSeconds(10));
            time.Advance(TimeSpan.FromMilliseconds(150));
            token.SetResult("t-ann");
            await calculator.HandlerStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));

            time.Advance(TimeSpan.FromMilliseconds(49));
            await Task.Delay(20);
            Assert.False(call.IsCompleted);
            time.Advance(TimeSpan.FromMilliseconds(2));
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
        }
    }

    [Fact]
    public async Task InterfaceTimeout_AppliesToMethodsWithoutTheirOwn()
    {
        var time = new FakeTimeProvider();
        (RpcServer server, RpcClient client, Calculator calculator) = await StartAsync(time);
        await using (server)
        await using (client)
        {
            Task<int> call = client.CreateProxy<ICalculator>().WaitForCancellationAsync(600_000); // interface [Timeout(5000)]
            await calculator.HandlerStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            time.Advance(TimeSpan.FromMilliseconds(4_999));
            await Task.Delay(20);
            Assert.False(call.IsCompleted);
            time.Advance(TimeSpan.FromMilliseconds(2));
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
        }
    }

    [Fact]
    public async Task AHandlersToken_ReadsNoClock_WhenThePooledCallsTimerAlreadyFiresInTime()
    {
        // The server on a counting clock, the client on the system's. Calls one after another, handlers taking the
        // token: the first sets the pooled server call's timer for its deadline; later calls' deadlines (interface
        // [Timeout(5000)], the clock standing still) are no earlier, so the timer fires in time for them too and their
        // tokens need no clock read. What is left per call is the read loop's stamp of the read that brought it.
        var time = new CountingTimeProvider();
        var server = new RpcServer(new RpcServerOptions { TimeProvider = time });
        server.Map<ICalculator>(new Calculator("manual"));
        await server.StartAsync();
        var client = new RpcClient(new RpcClientOptions { Endpoints = { server.InProcessEndpoint } });
        await using (server)
        await using (client)
        {
            ICalculator calc = client.CreateProxy<ICalculator>();
            Assert.Equal(1, await calc.AddAsync(0, 1));
            long before = time.Reads;
            for (int i = 0; i < 20; i++)
            {
                Assert.Equal(i + 1, await calc.AddAsync(i, 1));
            }

            Assert.Equal(20, time.Reads - before);
        }
    }

    [Fact]
    public async Task AHandlersToken_IsNotCancelledEarly_ByAPooledCallsTimerSetForAnEarlierCall()
    {
        var time = new CountingTimeProvider();
        var server = new RpcServer(new RpcServerOptions { TimeProvider = time });
        var calculator = new Calculator("manual");
        server.Map<ICalculator>(calculator);
        await server.StartAsync();
        var client = new RpcClient(new RpcClientOptions { TimeProvider = time, Endpoints = { server.InProcessEndpoint } });
        await using (server)
        await using (client)
        {
            // One call after another (interface [Timeout(5000)]), handlers taking the token, 50 ms apart: the pooled
            // server call's deadline timer is made once, for the first call's t = 5 s, and never changed per call. (A
            // second instance may be rented when a call starts before the last one was handed back to the pool.)
            ICalculator calc = client.CreateProxy<ICalculator>();
            for (int i = 0; i < 20; i++)
            {
                Assert.Equal(i + 1, await calc.AddAsync(i, 1));
                time.Fake.Advance(TimeSpan.FromMilliseconds(50));
            }

            Assert.InRange(time.Created.GetValueOrDefault(nameof(RpcServerCall)), 1, 2);
            Assert.Equal(0, time.Changes.GetValueOrDefault(nameof(RpcServerCall)));

            // At t = 1 s a call whose deadline is t = 6 s: the timer, still set for t = 5 s, fires early for it. It must
            // be set again, not cancel the handler at 5 s; at 6 s the handler's token fires.
            Task<int> call = calc.WaitForCancellationAsync(600_000);
            await calculator.HandlerStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            time.Fake.Advance(TimeSpan.FromMilliseconds(4_999));
            await Task.Delay(20);
            Assert.False(calculator.HandlerCancelled.Task.IsCompleted);
            Assert.False(call.IsCompleted);
            Assert.Equal(1, time.Changes.GetValueOrDefault(nameof(RpcServerCall)));
            time.Fake.Advance(TimeSpan.FromMilliseconds(2));
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
            Assert.True(await calculator.HandlerCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        }
    }

    [Fact]
    public void Descriptor_CarriesTheEffectiveTimeoutOfEachMethod()
    {
        RpcServiceDescriptor descriptor = RpcServiceRegistry.GetDescriptor<ICalculator>()!;
        Assert.Equal("calc", descriptor.Name);
        Assert.Equal(5000, descriptor.Methods.Single(m => m.ClrName == "AddAsync").TimeoutMilliseconds);
        Assert.Equal(200, descriptor.Methods.Single(m => m.ClrName == "SlowWithDeadlineAsync").TimeoutMilliseconds);
        RpcMethodDescriptor multiply = descriptor.Methods.Single(m => m.ClrName == "MultiplyAsync");
        Assert.Equal("mul", multiply.Name);
        Assert.Equal("calc/mul", multiply.FullName);
        Assert.Equal(RpcReturnKind.TaskOfT, multiply.ReturnKind);
        Assert.Equal(new[] { "a", "b" }, multiply.Parameters.Select(p => p.Name));
        Assert.Contains(descriptor, RpcServiceRegistry.Services);
    }
}

using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Client;

[RpcService("alloc")]
public interface IAllocationProbe
{
    ValueTask<int> AddAsync(int a, int b);

    Task<int> AddTaskAsync(int a, int b);
}

public sealed class AllocationProbe : IAllocationProbe
{
    public ValueTask<int> AddAsync(int a, int b) => new(a + b);

    private static readonly Task<int> s_one = Task.FromResult(1);

    /// <summary>0 + 1 from a cached task, so the handler allocates nothing of its own.</summary>
    public Task<int> AddTaskAsync(int a, int b) => a + b == 1 ? s_one : Task.FromResult(a + b);
}

/// <summary>
/// What a call over TCP allocates, client and server together (one process): the state of a call that completes
/// asynchronously is pooled, so a method returning <see cref="ValueTask{TResult}"/> costs the client nothing per call
/// and one returning <see cref="Task{TResult}"/> costs it the task itself. Each allocation is garbage the collector must
/// pause the process for, which is what sets a loaded client's p99 (benchmarks.md). Serial: the allocation counter is
/// the process's, so no other test may run meanwhile.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class CallAllocationTests
{
    private const int Calls = 4000;

    [Fact]
    public async Task ACallThatCompletesAsynchronously_AllocatesNoCallStateOnTheClient()
    {
        await using var server = new RpcServer();
        server.Map<IAllocationProbe>(new AllocationProbe());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IAllocationProbe probe = client.CreateProxy<IAllocationProbe>();

        double valueTask = await BytesPerCallAsync(() => RunAsync(probe, Calls, task: false), () => RunAsync(probe, 400, task: false));
        double task = await BytesPerCallAsync(() => RunAsync(probe, Calls, task: true), () => RunAsync(probe, 400, task: true));

        // The server's share is its RpcCallContext and the execution context that carries it (about 130 bytes); the
        // client's call state was a 190-byte box per call before it was pooled, so 320 bytes in all.
        Assert.True(valueTask < 200, $"{valueTask:N0} bytes per ValueTask call");

        // A Task-returning method (its handler returns a cached task): the Task the caller awaits, about 80 bytes.
        Assert.True(task < 260, $"{task:N0} bytes per Task call against {valueTask:N0} per ValueTask call");
    }

    [Fact]
    public async Task ACallOverTcp_ReadsTheClientsClockTwice()
    {
        await using var server = new RpcServer();
        server.Map<IAllocationProbe>(new AllocationProbe());
        await server.StartAsync();
        var time = new CountingTimeProvider();
        await using var client = new RpcClient(new RpcClientOptions { TimeProvider = time, Endpoints = { server.Endpoints[0] } });
        IAllocationProbe probe = client.CreateProxy<IAllocationProbe>();
        for (int i = 0; i < 50; i++)
        {
            await probe.AddAsync(i, 1);
        }

        // One caller: one call per read. A call's deadline and the timeout its request carries come from one read, its
        // response's arrival (the read loop stamps each read) ends it for the endpoint's figures: two reads, not three
        // (a third read at the caller's end, paid by each of 64 callers resuming on one read, was one of them).
        long before = time.Reads;
        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(i + 1, await probe.AddAsync(i, 1));
        }

        double perCall = (time.Reads - before) / 200.0;
        Assert.True(perCall <= 2.05, $"{perCall:0.00} clock reads per call");
    }

    /// <summary>
    /// Runs <paramref name="warmUp"/>, then <paramref name="run"/> three times, and returns the fewest bytes the process
    /// allocated per call in a run: what every call costs, without what happens once (a pool growing to a new size, a
    /// thread starting).
    /// </summary>
    private static async Task<double> BytesPerCallAsync(Func<Task> run, Func<Task> warmUp)
    {
        await warmUp();
        double fewest = double.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            await run();
            fewest = Math.Min(fewest, (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)Calls);
        }

        return fewest;
    }

    /// <summary>
    /// 8 callers on the thread pool (no test framework's synchronization context to post continuations to), each one loop:
    /// one state machine for all its calls, so the test's own code allocates per caller, not per call.
    /// </summary>
    private static Task RunAsync(IAllocationProbe probe, int calls, bool task) =>
        Task.WhenAll(Enumerable.Range(0, 8).Select(caller => Task.Run(() => CallerAsync(probe, caller, calls, task))));

    private static async Task CallerAsync(IAllocationProbe probe, int first, int calls, bool task)
    {
        for (int i = first; i < calls; i += 8)
        {
            int a = task ? 0 : i;
            int sum = task ? await probe.AddTaskAsync(a, 1).ConfigureAwait(false) : await probe.AddAsync(a, 1).ConfigureAwait(false);
            if (sum != a + 1)
            {
                throw new InvalidOperationException($"{a} + 1 came back as {sum}");
            }
        }
    }
}

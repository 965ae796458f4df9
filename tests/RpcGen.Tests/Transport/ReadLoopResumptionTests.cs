using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using RpcGen.Tests.Support;
using RpcGen.Transport;
using Xunit;

namespace RpcGen.Tests.Transport;

/// <summary>
/// Responses that arrive together resume their callers on the read loop, and the requests those callers send next leave
/// in one write instead of one write each; a caller that blocks after its response loses the read loop to another
/// thread, so it never holds the other callers' responses, or anyone's request, back.
/// </summary>
public sealed class ReadLoopResumptionTests
{
    private const int Callers = 32;
    private const int RequestBytes = 16;

    internal static byte[] Request(uint round, uint callId)
    {
        byte[] frame = new byte[RequestBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, round);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), callId);
        return frame;
    }

    internal static async Task<List<(uint Round, uint CallId)>> ReadRequestsAsync(PipeReader reader, int count)
    {
        var requests = new List<(uint, uint)>();
        while (requests.Count < count)
        {
            ReadResult result = await reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            ReadOnlySequence<byte> buffer = result.Buffer;
            while (buffer.Length >= RequestBytes && requests.Count < count)
            {
                byte[] frame = buffer.Slice(0, RequestBytes).ToArray();
                requests.Add((BinaryPrimitives.ReadUInt32LittleEndian(frame), BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(4))));
                buffer = buffer.Slice(RequestBytes);
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }

        return requests;
    }

    /// <summary>A client connection whose server is this test: it reads the requests and writes the responses itself.</summary>
    internal static async Task<(ClientConnection Connection, CountingPipeWriter Output, Pipe ToClient, Pipe ToServer)> ConnectScriptedAsync(
        TimeProvider time, bool readOnWritersThread = false)
    {
        // readOnWritersThread: the client's read loop runs on the thread that writes its bytes, inside that write.
        var toClient = new Pipe(readOnWritersThread
            ? new PipeOptions(readerScheduler: PipeScheduler.Inline, useSynchronizationContext: false)
            : PipeOptions.Default);
        var toServer = new Pipe();
        var output = new CountingPipeWriter(toServer.Writer);
        var transport = new TransportConnection(toClient.Reader, output, "scripted server", () =>
        {
            toClient.Writer.Complete();
            toServer.Writer.Complete();
        });
        byte[] preface = new byte[ProtocolConstants.PrefaceLength];
        Preface.Write(preface, ProtocolConstants.RoleServer);
        await toClient.Writer.WriteAsync(preface);
        ClientConnection connection = await ClientConnection.EstablishAsync(
            transport, 1 << 20, time, TimeSpan.FromSeconds(10), _ => { }, (_, _, _) => { }, CancellationToken.None);
        ReadResult clientPreface = await toServer.Reader.ReadAtLeastAsync(ProtocolConstants.PrefaceLength);
        toServer.Reader.AdvanceTo(clientPreface.Buffer.GetPosition(ProtocolConstants.PrefaceLength));
        return (connection, output, toClient, toServer);
    }

    internal static byte[] Response(uint callId)
    {
        byte[] frame = new byte[FrameEncoder.ResponsePrefixLength];
        FrameEncoder.WriteResponse(frame, callId, 0, 0);
        return frame;
    }

    [Fact]
    public async Task ACallerThatBlocksOnTheReadLoop_LosesIt_AndTheOtherResponsesOfItsReadStillArrive()
    {
        (ClientConnection connection, _, Pipe toClient, Pipe toServer) = await ConnectScriptedAsync(TimeProvider.System);
        (PendingCall blocking, PendingCall other) = await SendTwoAsync(connection, toServer);

        // The first caller resumes on the read loop and waits there until the second has resumed: only a read loop handed
        // to another thread can deliver the second response, in the same read.
        using var otherResumed = new ManualResetEventSlim();
        int? blockedOn = null;
        Task first = AwaitThenAsync(blocking, () =>
        {
            blockedOn = Environment.CurrentManagedThreadId;
            return otherResumed.Wait(Wait.NoHang);
        });
        int? resumedOn = null;
        Task second = AwaitThenAsync(other, () =>
        {
            resumedOn = Environment.CurrentManagedThreadId;
            otherResumed.Set();
            return true;
        });
        int handOffs = ClientConnection.HandOffs.TickCount;
        using var counted = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<long>(
            null, RpcGen.Telemetry.RpcGenMetrics.MeterName, "rpcgen.client.read_loop_handoffs");

        await toClient.Writer.WriteAsync(Response(blocking.Id).Concat(Response(other.Id)).ToArray());
        await Task.WhenAll(first, second).WaitAsync(Wait.NoHang);
        Assert.NotEqual(blockedOn, resumedOn); // the second ran on the thread that took the loop over
        Assert.True(ClientConnection.HandOffs.TickCount > handOffs);
        Assert.NotEmpty(counted.GetMeasurementSnapshot()); // and the client counts it
        connection.Close(null);
    }

    [Fact]
    public async Task ACallerOfALargeResponse_ResumesOnThePool_WhileASmallOnesCallerResumesOnTheReadLoop()
    {
        (ClientConnection connection, _, Pipe toClient, Pipe toServer) = await ConnectScriptedAsync(TimeProvider.System, readOnWritersThread: true);
        (PendingCall small, PendingCall large) = await SendTwoAsync(connection, toServer);
        int? smallOn = null, largeOn = null;
        Task smallDone = AwaitThenAsync(small, () => (smallOn = Environment.CurrentManagedThreadId) > 0);
        Task largeDone = AwaitThenAsync(large, () => (largeOn = Environment.CurrentManagedThreadId) > 0);

        // One read, both responses; the read loop runs on the thread that writes them.
        byte[] big = new byte[FrameEncoder.ResponsePrefixLength + ClientConnection.MaxInlineResponseBytes + 1];
        FrameEncoder.WriteResponse(big, large.Id, 0, 0);
        byte[] both = Response(small.Id).Concat(big).ToArray();
        int readLoop = 0;
        var writer = new Thread(() =>
        {
            readLoop = Environment.CurrentManagedThreadId;
            toClient.Writer.WriteAsync(both).AsTask().GetAwaiter().GetResult();
        });
        writer.Start();
        writer.Join();
        await Task.WhenAll(smallDone, largeDone).WaitAsync(Wait.NoHang);
        Assert.Equal(readLoop, smallOn); // resumed inline, where its next request joins the read's write
        Assert.NotEqual(readLoop, largeOn); // resumed on the pool: its deserializing runs beside the next read

        // The read loop goes on after handing a caller to the pool, and a response of exactly the limit still resumes
        // its caller inline.
        PendingCall exact = connection.TryStartCall(out _)!;
        Assert.True(connection.TrySendRequest(exact, Request(1, exact.Id), out _));
        await ReadRequestsAsync(toServer.Reader, 1);
        int? exactOn = null;
        Task exactDone = AwaitThenAsync(exact, () => (exactOn = Environment.CurrentManagedThreadId) > 0);
        byte[] limit = new byte[FrameEncoder.ResponsePrefixLength + ClientConnection.MaxInlineResponseBytes];
        FrameEncoder.WriteResponse(limit, exact.Id, 0, 0);
        var second = new Thread(() =>
        {
            readLoop = Environment.CurrentManagedThreadId;
            toClient.Writer.WriteAsync(limit).AsTask().GetAwaiter().GetResult();
        });
        second.Start();
        second.Join();
        await exactDone.WaitAsync(Wait.NoHang);
        Assert.Equal(readLoop, exactOn);
        connection.Close(null);
    }

    /// <summary>Starts two calls and sends their requests, which the scripted server reads.</summary>
    private static async Task<(PendingCall, PendingCall)> SendTwoAsync(ClientConnection connection, Pipe toServer)
    {
        PendingCall first = connection.TryStartCall(out _)!;
        PendingCall second = connection.TryStartCall(out _)!;
        Assert.True(connection.TrySendRequest(first, Request(1, first.Id), out _));
        Assert.True(connection.TrySendRequest(second, Request(1, second.Id), out _));
        await ReadRequestsAsync(toServer.Reader, 2);
        return (first, second);
    }

    /// <summary>Awaits the call (registering the continuation before this returns), then runs <paramref name="then"/>.</summary>
    private static async Task AwaitThenAsync(PendingCall call, Func<bool> then)
    {
        (await call.AsValueTask().ConfigureAwait(false)).Dispose(); // no test context: resume where completed
        Assert.True(then());
    }

    [Fact]
    public async Task ResponsesThatArriveTogether_TheirCallersNextRequestsLeaveInOneWrite()
    {
        (ClientConnection connection, CountingPipeWriter output, Pipe toClient, Pipe toServer) = await ConnectScriptedAsync(TimeProvider.System);

        // Round 1: each caller sends a request and waits; round 2: what it sends once its response is in.
        var firstCalls = new PendingCall[Callers];
        for (int i = 0; i < Callers; i++)
        {
            firstCalls[i] = connection.TryStartCall(out _)!;
            Assert.True(connection.TrySendRequest(firstCalls[i], Request(1, firstCalls[i].Id), out _));
        }

        Assert.Equal(Callers, (await ReadRequestsAsync(toServer.Reader, Callers)).Count);
        // Each caller awaits before its response comes (an async lambda runs to its first await at once).
        Task[] callers = firstCalls.Select(async first =>
        {
            ResponseData response = await first.AsValueTask().ConfigureAwait(false); // no test context: resume where completed
            Assert.Null(response.Error);
            response.Dispose();
            connection.Return(first);
            PendingCall next = connection.TryStartCall(out _)!;
            Assert.True(connection.TrySendRequest(next, Request(2, next.Id), out _));
        }).ToArray();
        int flushesBefore = Volatile.Read(ref output.Flushes);

        // Every response in one write, as a server's batch of answers arrives.
        byte[] responses = new byte[Callers * FrameEncoder.ResponsePrefixLength];
        for (int i = 0; i < Callers; i++)
        {
            FrameEncoder.WriteResponse(responses.AsSpan(i * FrameEncoder.ResponsePrefixLength, FrameEncoder.ResponsePrefixLength), firstCalls[i].Id, 0, 0);
        }

        await toClient.Writer.WriteAsync(responses);
        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(30));
        List<(uint Round, uint CallId)> second = await ReadRequestsAsync(toServer.Reader, Callers);

        Assert.All(second, r => Assert.Equal(2u, r.Round));
        // One write: every caller resumed on the read loop while it held the output corked (one write per caller, 32, when
        // callers resumed on the thread pool each). A second or third only when a caller compiling its code on a loaded
        // machine held the loop past the hand-off budget and the loop moved on without it (the monitor's real clock).
        Assert.InRange(Volatile.Read(ref output.Flushes) - flushesBefore, 1, 3);
        connection.Close(null);
    }

    [Fact]
    public async Task ARead_WhoseLastCallerWritesNothing_StillSendsWhatTheOthersWrote()
    {
        (ClientConnection connection, _, Pipe toClient, Pipe toServer) = await ConnectScriptedAsync(TimeProvider.System);
        (PendingCall first, PendingCall last) = await SendTwoAsync(connection, toServer);

        ValueTask<ResponseData> firstDone = first.AsValueTask();
        ValueTask<ResponseData> lastDone = last.AsValueTask();
        byte[] both = Response(first.Id).Concat(Response(last.Id)).ToArray();
        await toClient.Writer.WriteAsync(both); // one read, two callers

        // The first caller resumes and writes its next request: held back until the read's frames are handled.
        (await firstDone.AsTask().WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
        PendingCall next = connection.TryStartCall(out _)!;
        Assert.True(connection.TrySendRequest(next, Request(2, next.Id), out _));

        // The last caller resumes and writes nothing: the read's cork must come off all the same.
        (await lastDone.AsTask().WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
        List<(uint Round, uint CallId)> sent = await ReadRequestsAsync(toServer.Reader, 1);
        Assert.Equal((2u, next.Id), sent[0]);
        connection.Close(null);
    }

    [Fact]
    public async Task ACallerThatBlocksOnAnotherCallAfterItsResponse_DoesNotHoldTheReadLoop()
    {
        await using var server = new RpcServer();
        server.Map<ICalculator>(new Calculator("blocking"));
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        ICalculator calc = client.CreateProxy<ICalculator>();

        // Sync over async inside a continuation that runs on the read loop: the second call's request must leave although
        // the caller's thread waits for it, and its response must be read by another thread. Enough pool threads that
        // blocking 8 of them is not the thread-pool starvation every library suffers from, but RpcGen's own read loop.
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), io);
        Task<int>[] callers = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            int total = 0;
            for (int round = 0; round < 20; round++)
            {
                total += await calc.AddAsync(i, round);
                total += calc.AddAsync(round, i).GetAwaiter().GetResult();
            }

            return total;
        })).ToArray();

        int[] totals;
        try
        {
            totals = await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            ThreadPool.SetMinThreads(workers, io);
        }

        for (int i = 0; i < totals.Length; i++)
        {
            Assert.Equal(Enumerable.Range(0, 20).Sum(round => 2 * (i + round)), totals[i]);
        }
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using RpcGen.Tests.Support;
using RpcGen.Transport;
using Xunit;

namespace RpcGen.Tests.Transport;

/// <summary>
/// Responses that arrive together complete their callers in one batch, and the requests those callers send next leave
/// in one write instead of one write each (the difference between a fifth and a third of a raw socket's throughput);
/// and a caller that blocks after its response never holds the batch, or anyone's request, back.
/// </summary>
public sealed class CompletionBatchTests
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
    internal static async Task<(ClientConnection Connection, CountingPipeWriter Output, Pipe ToClient, Pipe ToServer)> ConnectScriptedAsync(TimeProvider time)
    {
        var toClient = new Pipe();
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
    public async Task ABatchWhoseCallerNeverResumes_StillLetsRequestsGo_AfterTheHoldLimit()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        (ClientConnection connection, CountingPipeWriter output, Pipe toClient, Pipe toServer) = await ConnectScriptedAsync(time);
        PendingCall stuck = connection.TryStartCall(out _)!;
        Assert.True(connection.TrySendRequest(stuck, Request(1, stuck.Id), out _));
        await ReadRequestsAsync(toServer.Reader, 1);

        // Its response opens a batch; its caller never resumes (as if blocked with the batch's other callers queued
        // behind it on its thread).
        ValueTask<ResponseData> never = stuck.AsValueTask();
        await toClient.Writer.WriteAsync(Response(stuck.Id));
        await Wait.UntilAsync(() => connection.IsCompletionBatchOpen); // the read loop handed the response out
        int flushes = Volatile.Read(ref output.Flushes);

        // Held back by the open batch. Without the cork the frame output writes inline, before TrySendRequest returns,
        // so looking at once is enough.
        PendingCall other = connection.TryStartCall(out _)!;
        Assert.True(connection.TrySendRequest(other, Request(2, other.Id), out _));
        Assert.Equal(flushes, Volatile.Read(ref output.Flushes));
        Assert.True(connection.IsCompletionBatchOpen);

        time.Advance(ClientConnection.BatchHoldLimit);
        List<(uint Round, uint CallId)> sent = await ReadRequestsAsync(toServer.Reader, 1);
        Assert.Equal((2u, other.Id), sent[0]);
        Assert.True(never.IsCompleted);
        connection.Close(null);
    }

    [Fact]
    public async Task ResponsesThatArriveTogether_TheirCallersNextRequestsLeaveInOneWrite()
    {
        // A clock that stands still: the batch's hold limit (a fallback for callers that block) cannot cut it short
        // while a slow first run compiles the callers' code.
        (ClientConnection connection, CountingPipeWriter output, Pipe toClient, Pipe toServer) = await ConnectScriptedAsync(new Microsoft.Extensions.Time.Testing.FakeTimeProvider());

        // Round 1: each caller sends a request and waits; round 2: what it sends once its response is in.
        var firstCalls = new PendingCall[Callers];
        for (int i = 0; i < Callers; i++)
        {
            firstCalls[i] = connection.TryStartCall(out _)!;
            Assert.True(connection.TrySendRequest(firstCalls[i], Request(1, firstCalls[i].Id), out _));
        }

        Assert.Equal(Callers, (await ReadRequestsAsync(toServer.Reader, Callers)).Count);
        Task[] callers = firstCalls.Select(first => Task.Run(async () =>
        {
            ResponseData response = await first.AsValueTask();
            Assert.Null(response.Error);
            response.Dispose();
            connection.Return(first);
            PendingCall next = connection.TryStartCall(out _)!;
            Assert.True(connection.TrySendRequest(next, Request(2, next.Id), out _));
        })).ToArray();
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
        int writes = Volatile.Read(ref output.Flushes) - flushesBefore;
        // One write when every continuation ran before the batch closed; a second only if a thread-pool thread took the
        // closing item while the read loop was still handing out the responses. One write per caller (32) before.
        Assert.InRange(writes, 1, 3);
        connection.Close(null);
    }

    [Fact]
    public async Task ABatchWhoseLastCallerWritesNothing_StillSendsWhatTheOthersWrote()
    {
        // A standing clock: only the batch's own rule, not its hold-limit timer, may let the request go.
        (ClientConnection connection, CountingPipeWriter output, Pipe toClient, Pipe toServer) = await ConnectScriptedAsync(new Microsoft.Extensions.Time.Testing.FakeTimeProvider());
        PendingCall first = connection.TryStartCall(out _)!;
        PendingCall last = connection.TryStartCall(out _)!;
        Assert.True(connection.TrySendRequest(first, Request(1, first.Id), out _));
        Assert.True(connection.TrySendRequest(last, Request(1, last.Id), out _));
        await ReadRequestsAsync(toServer.Reader, 2);

        ValueTask<ResponseData> firstDone = first.AsValueTask();
        ValueTask<ResponseData> lastDone = last.AsValueTask();
        byte[] both = Response(first.Id).Concat(Response(last.Id)).ToArray();
        await toClient.Writer.WriteAsync(both); // one read: one batch of two callers

        // The first caller resumes and writes its next request: held back, its batch-mate has not resumed yet.
        (await firstDone.AsTask().WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
        PendingCall next = connection.TryStartCall(out _)!;
        Assert.True(connection.TrySendRequest(next, Request(2, next.Id), out _));

        // The last caller resumes and writes nothing: the batch must close all the same.
        (await lastDone.AsTask().WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
        List<(uint Round, uint CallId)> sent = await ReadRequestsAsync(toServer.Reader, 1);
        Assert.Equal((2u, next.Id), sent[0]);
        connection.Close(null);
    }

    [Fact]
    public async Task ACallerThatBlocksOnAnotherCallAfterItsResponse_DoesNotHoldTheBatch()
    {
        await using var server = new RpcServer();
        server.Map<ICalculator>(new Calculator("blocking"));
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        ICalculator calc = client.CreateProxy<ICalculator>();

        // Sync over async inside a continuation: the second call's request must leave although the caller's thread
        // waits for it, and the batch its first response came in must still close for the other callers (which may be
        // queued behind the blocked caller on its thread). Enough pool threads that blocking 8 of them is not the
        // thread-pool starvation every library suffers from, but RpcGen's own batch.
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

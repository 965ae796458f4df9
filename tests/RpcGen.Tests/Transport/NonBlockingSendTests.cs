using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using RpcGen.Tests.Support;
using RpcGen.Transport;
using Xunit;

namespace RpcGen.Tests.Transport;

/// <summary>
/// A connection with a receive thread sends with non-blocking sends and, when its socket is full, waits on the
/// process's socket waiter: neither side's socket ever enters the socket engine (whose epoll would then wake a thread-pool
/// worker on every read), a peer that does not read blocks no thread, and an aborted or cancelled wait ends.
/// </summary>
[Collection(SerialCollection.Name)] // counts the process-wide waiter's waiters
public sealed class NonBlockingSendTests
{
    private const int MaxFrame = 1 << 20;
    private const int Bulk = 32 << 20; // far past what two loopback socket buffers hold

    /// <summary>
    /// True when .NET's socket engine has <paramref name="socket"/> in its epoll (Unix). Reads the runtime's private fields:
    /// when they move, this says so rather than answering false.
    /// </summary>
    private static bool IsInSocketEngine(Socket socket)
    {
        FieldInfo context = typeof(SafeSocketHandle).GetField("_asyncContext", BindingFlags.NonPublic | BindingFlags.Instance)
            ?? throw new InvalidOperationException("SafeSocketHandle._asyncContext is gone: update this test to the runtime's socket internals.");
        object? value = context.GetValue(socket.SafeHandle);
        if (value is null)
        {
            return false;
        }

        FieldInfo engine = value.GetType().GetField("_asyncEngine", BindingFlags.NonPublic | BindingFlags.Instance)
            ?? throw new InvalidOperationException("SocketAsyncContext._asyncEngine is gone: update this test to the runtime's socket internals.");
        return engine.GetValue(value) is not null;
    }

    /// <summary>Both ends of a loopback connection; disposing aborts both.</summary>
    private sealed record Pair(TransportConnection Client, TransportConnection Server, Socket ServerSocket) : IDisposable
    {
        /// <summary>
        /// The server sends far more than the sockets hold while the client reads nothing: returns the flush once the send
        /// waits on the waiter (the only waiter: these tests run alone).
        /// </summary>
        public async Task<Task<FlushResult>> StartSendThatWaitsAsync(CancellationToken cancellationToken = default)
        {
            Task<FlushResult> flush = Server.Output.WriteAsync(new byte[Bulk], cancellationToken).AsTask();
            await Wait.UntilAsync(() => SocketWaiter.Shared.Waiting == 1, "the send to wait for room");
            return flush;
        }

        public void Dispose()
        {
            Client.Abort();
            Server.Abort();
        }
    }

    private static async Task<Pair> ConnectAsync(ReceiveThreadBudget clientBudget, ReceiveThreadBudget serverBudget)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        Task<Socket> accepting = Task.Run(listener.Accept);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        TransportConnection client = await TransportConnection.ConnectTcpAsync("127.0.0.1", port, MaxFrame, clientBudget, CancellationToken.None);
        Socket accepted = await accepting.WaitAsync(Wait.NoHang);
        return new Pair(client, TransportConnection.FromSocket(accepted, "client", MaxFrame, serverBudget), accepted);
    }

    private static async Task<long> DrainAsync(PipeReader input, long count)
    {
        long read = 0;
        while (read < count)
        {
            ReadResult result = await input.ReadAsync();
            read += result.Buffer.Length;
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        return read;
    }

    [Fact]
    public async Task ReceiveThreadConnections_StayOutOfTheSocketEngine_EvenWhenASendWaits_AndTheWaitEndsWhenThePeerReads()
    {
        var budget = new ReceiveThreadBudget(() => 8);
        using Pair pair = await ConnectAsync(budget, budget);
        (TransportConnection client, TransportConnection server, Socket serverSocket) = pair;
        Assert.NotNull(client.Receiver);
        Assert.NotNull(server.Receiver);

        Task<FlushResult> flush = await pair.StartSendThatWaitsAsync();
        Assert.False(flush.IsCompleted);

        // Once the client reads, the waiter sees room and the send goes on to the last byte.
        Assert.Equal(Bulk, await DrainAsync(client.Input, Bulk).WaitAsync(Wait.NoHang));
        await flush.WaitAsync(Wait.NoHang);
        Assert.Equal(0, SocketWaiter.Shared.Waiting);

        // And back the other way, a call's worth.
        await client.Output.WriteAsync(new byte[100]);
        Assert.Equal(100, await DrainAsync(server.Input, 100).WaitAsync(Wait.NoHang));

        Assert.False(IsInSocketEngine(client.Receiver.Socket), "the client's socket entered the socket engine");
        Assert.False(IsInSocketEngine(serverSocket), "the server's socket entered the socket engine");
    }

    [Fact]
    public async Task WithoutReceiveThreads_TheSocketsAreTheEnginesAsBefore()
    {
        // The check above could not fail if IsInSocketEngine always said false: here the same exchange without receive
        // threads (connect and sends on the socket engine) must say true.
        var none = new ReceiveThreadBudget(() => 0);
        using Pair pair = await ConnectAsync(none, none);
        (TransportConnection client, TransportConnection server, Socket serverSocket) = pair;
        Assert.Null(client.Receiver);
        Task<FlushResult> flush = server.Output.WriteAsync(new byte[Bulk]).AsTask();
        Assert.Equal(Bulk, await DrainAsync(client.Input, Bulk).WaitAsync(Wait.NoHang));
        await flush.WaitAsync(Wait.NoHang);
        Assert.True(IsInSocketEngine(serverSocket));
    }

    [Fact]
    public async Task ASendWaitingOnAPeerThatNeverReads_FailsWhenTheConnectionIsAborted()
    {
        var budget = new ReceiveThreadBudget(() => 8);
        using Pair pair = await ConnectAsync(budget, budget);
        (TransportConnection client, TransportConnection server, _) = pair;
        Task<FlushResult> flush = await pair.StartSendThatWaitsAsync();

        server.Abort(); // what the server does to a peer that has not read for its drain timeout
        await Assert.ThrowsAnyAsync<Exception>(() => flush.WaitAsync(Wait.NoHang));
        await Wait.UntilAsync(() => SocketWaiter.Shared.Waiting == 0, "the waiter to let the closed socket go");
    }

    [Fact]
    public async Task AWaitingSend_EndsWithItsToken()
    {
        var budget = new ReceiveThreadBudget(() => 8);
        using Pair pair = await ConnectAsync(budget, budget);
        (TransportConnection client, TransportConnection server, _) = pair;
        using var cancel = new CancellationTokenSource();
        Task<FlushResult> flush = await pair.StartSendThatWaitsAsync(cancel.Token);

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => flush.WaitAsync(Wait.NoHang));
        Assert.Equal(0, SocketWaiter.Shared.Waiting);
        await Wait.UntilAsync(() => SocketWaiter.Shared.Threads == 0, "the waiter's thread to end once nothing waits");
    }

    [Fact]
    public async Task TwoWaitingSends_ShareOneThread_EachEndsWhenItsOwnPeerReads_AndNeitherSpins()
    {
        var budget = new ReceiveThreadBudget(() => 8);
        using Pair first = await ConnectAsync(budget, budget);
        using Pair second = await ConnectAsync(budget, budget);
        (TransportConnection client1, TransportConnection server1, _) = first;
        (TransportConnection client2, TransportConnection server2, _) = second;
        Task<FlushResult> flush1 = server1.Output.WriteAsync(new byte[Bulk]).AsTask();
        await Wait.UntilAsync(() => SocketWaiter.Shared.Waiting == 1, "the first send to wait");
        Task<FlushResult> flush2 = server2.Output.WriteAsync(new byte[Bulk]).AsTask(); // joins a poll already under way
        await Wait.UntilAsync(() => SocketWaiter.Shared.Waiting == 2, "the second send to wait");
        Assert.Equal(1, SocketWaiter.Shared.Threads);

        // Waiting costs nothing while nobody reads: no poll returns and no send retries (a busy loop would make thousands).
        (long polls, long waits) = (SocketWaiter.Shared.Polls, NonBlockingSendStream.Waits);
        await Task.Delay(200);
        // (Both counters are process-wide: a connection an earlier test left closing may add one or two.)
        Assert.InRange(SocketWaiter.Shared.Polls - polls, 0, 2);
        Assert.InRange(NonBlockingSendStream.Waits - waits, 0, 2);

        // The second peer reads: its send ends while the first still waits.
        Assert.Equal(Bulk, await DrainAsync(client2.Input, Bulk).WaitAsync(Wait.NoHang));
        await flush2.WaitAsync(Wait.NoHang);
        Assert.False(flush1.IsCompleted);

        Assert.Equal(Bulk, await DrainAsync(client1.Input, Bulk).WaitAsync(Wait.NoHang));
        await flush1.WaitAsync(Wait.NoHang);
        await Wait.UntilAsync(() => SocketWaiter.Shared.Threads == 0, "the waiter's thread to end once nothing waits");
    }

    [Fact]
    public async Task APeerThatResetsWhileASendWaits_FailsTheSend()
    {
        var budget = new ReceiveThreadBudget(() => 8);
        using Pair pair = await ConnectAsync(budget, budget);
        (TransportConnection client, TransportConnection server, _) = pair;
        Task<FlushResult> flush = await pair.StartSendThatWaitsAsync();

        Socket peer = client.Receiver!.Socket;
        peer.LingerState = new LingerOption(true, 0);
        peer.Close(); // a reset, not a goodbye: the waiting send learns it from the socket's error
        IOException failed = await Assert.ThrowsAsync<IOException>(() => flush.WaitAsync(Wait.NoHang));
        Assert.Contains("Unable to write data to the transport connection", failed.Message, StringComparison.Ordinal);
        Assert.IsType<SocketException>(failed.InnerException);
    }

    [Fact]
    public async Task AConnectThatDoesNotComplete_WaitsOnTheWaiter_AndEndsWithItsToken()
    {
        // A listener that accepts nothing: once its queue is full the kernel drops further handshakes, so the next
        // connect stays in progress. Connects that complete fill the queue (and are closed at once).
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var budget = new ReceiveThreadBudget(() => 8);
        using var cancel = new CancellationTokenSource();
        Task<TransportConnection>? connecting = null;
        for (int i = 0; i < 32; i++)
        {
            Task<TransportConnection> attempt = TransportConnection.ConnectTcpAsync("127.0.0.1", port, MaxFrame, budget, cancel.Token);
            if (await Task.WhenAny(attempt, Task.Delay(1000)) != attempt)
            {
                connecting = attempt; // in the handshake: the queue is full
                break;
            }

            (await attempt).Abort();
        }

        Assert.NotNull(connecting);
        await Wait.UntilAsync(() => SocketWaiter.Shared.Waiting == 1, "the connect to wait on the waiter");
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connecting.WaitAsync(Wait.NoHang));
        Assert.Equal(0, budget.Count);
        await Wait.UntilAsync(() => SocketWaiter.Shared.Threads == 0, "the waiter's thread to end once nothing waits");
    }

    [Fact]
    public async Task AConnectOutsideTheEngine_ToAClosedPort_FailsAsTheEnginesConnectWould()
    {
        int port;
        using (var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)closed.LocalEndPoint!).Port; // bound, never listening, then released: refused
        }

        var budget = new ReceiveThreadBudget(() => 8);
        SocketException refused = await Assert.ThrowsAsync<SocketException>(
            () => TransportConnection.ConnectTcpAsync("127.0.0.1", port, MaxFrame, budget, CancellationToken.None).WaitAsync(Wait.NoHang));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.Equal(0, budget.Count);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => TransportConnection.ConnectTcpAsync("localhost", port, MaxFrame, budget, new CancellationToken(canceled: true)));
    }
}

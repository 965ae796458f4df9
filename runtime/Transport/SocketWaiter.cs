using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Transport;

/// <summary>
/// Waits until non-blocking sockets can be written (a send that would block, a connect in progress) on one thread for the
/// whole process, so those sockets never meet the socket engine. A socket that has had an asynchronous operation wait is
/// in the engine's <c>epoll</c> for good, and then every read of it wakes the engine's thread and a thread-pool worker,
/// with no operation to complete (about half a small call's CPU on a receive-thread connection: docs/benchmarks-log.md).
/// The thread waits in <c>poll(2)</c> over the waiting sockets and a loopback datagram socket that new waiters write to.
/// It exists only while something waits, and completes each waiter on the thread pool.
/// </summary>
internal sealed class SocketWaiter
{
    public static readonly SocketWaiter Shared = new();

    private readonly object _lock = new();
    private readonly List<Waiter> _waiting = new();
    private Socket? _wakeReceiver; // read by the thread; the other end is _wakeSender
    private Socket? _wakeSender;
    private bool _running;
    private int _threads;
    private long _polls;

    /// <summary>Completes when <paramref name="socket"/> can be written (or has failed, which the next send reports).</summary>
    public Task WritableAsync(Socket socket, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled(cancellationToken);
        }

        var waiter = new Waiter(socket);
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var (self, waiter) = ((SocketWaiter, Waiter))state!;
                self.Remove(waiter);
                waiter.Done.TrySetCanceled(token);
            }, (this, waiter));
        }

        lock (_lock)
        {
            _waiting.Add(waiter);
            if (!_running)
            {
                _running = true;
                StartThread();
            }
        }

        Wake();
        return waiter.Done.Task;
    }

    /// <summary>Waiting threads now: one while something waits, else none (a test's view).</summary>
    internal int Threads => Volatile.Read(ref _threads);

    /// <summary>Polls so far: one per change in what waits or is ready, never a busy loop (a test's view).</summary>
    internal long Polls => Interlocked.Read(ref _polls);

    /// <summary>Waiters now (a test's view).</summary>
    internal int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _waiting.Count;
            }
        }
    }

    private void Remove(Waiter waiter)
    {
        lock (_lock)
        {
            _waiting.Remove(waiter);
        }

        Wake();
    }

    private void Wake()
    {
        try
        {
            _wakeSender?.Send(s_one, SocketFlags.None, out _);
        }
        catch (ObjectDisposedException)
        {
            // The thread ended and closed it; the next waiter starts a new one.
        }
    }

    private static readonly byte[] s_one = { 1 };

    private void StartThread()
    {
        if (_wakeReceiver is null)
        {
            // A connected pair of loopback datagram sockets: a byte to the receiver ends the thread's poll early.
            var receiver = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { Blocking = false };
            receiver.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { Blocking = false };
            sender.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            sender.Connect(receiver.LocalEndPoint!);
            receiver.Connect(sender.LocalEndPoint!);
            (_wakeReceiver, _wakeSender) = (receiver, sender);
        }

        var thread = new Thread(static state => ((SocketWaiter)state!).Run()) { IsBackground = true, Name = "RpcGen socket waiter" };
        thread.UnsafeStart(this);
    }

    private void Run()
    {
        Interlocked.Increment(ref _threads);
        try
        {
            RunPolls();
        }
        finally
        {
            Interlocked.Decrement(ref _threads);
        }
    }

    private void RunPolls()
    {
        var readable = new List<Socket>(1);
        var writable = new List<Socket>();
        var waiters = new List<Waiter>();
        byte[] drain = new byte[64];
        while (true)
        {
            waiters.Clear();
            lock (_lock)
            {
                if (_waiting.Count == 0)
                {
                    _running = false; // a waiter added after this starts a new thread
                    return;
                }

                waiters.AddRange(_waiting);
            }

            readable.Clear();
            readable.Add(_wakeReceiver!);
            writable.Clear();
            foreach (Waiter waiter in waiters)
            {
                writable.Add(waiter.Socket);
            }

            try
            {
                Interlocked.Increment(ref _polls);
                Socket.Select(readable, writable, null, -1);
            }
            catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
            {
                // A waiting socket was closed: its waiter learns it now (its next send says so). Should poll fail with
                // none closed, every waiter tries its send again and learns what is wrong from it.
                bool anyClosed = waiters.Exists(static waiter => waiter.Socket.SafeHandle.IsClosed);
                foreach (Waiter waiter in waiters)
                {
                    if (!anyClosed || waiter.Socket.SafeHandle.IsClosed)
                    {
                        Complete(waiter);
                    }
                }

                continue;
            }

            foreach (Socket socket in writable)
            {
                foreach (Waiter waiter in waiters)
                {
                    if (ReferenceEquals(waiter.Socket, socket))
                    {
                        Complete(waiter);
                    }
                }
            }

            if (readable.Count > 0)
            {
                while (_wakeReceiver!.Receive(drain, SocketFlags.None, out SocketError error) > 0 && error == SocketError.Success)
                {
                    // Drained: every waiter added before now is in the next poll.
                }
            }
        }
    }

    private void Complete(Waiter waiter)
    {
        lock (_lock)
        {
            _waiting.Remove(waiter);
        }

        waiter.Registration.Dispose();
        waiter.Done.TrySetResult();
    }

    private sealed class Waiter(Socket socket)
    {
        public Socket Socket { get; } = socket;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenRegistration Registration { get; set; }
    }
}

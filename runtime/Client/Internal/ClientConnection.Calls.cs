using System.Collections.Generic;
using System.Threading.Tasks;
using System;
using RpcGen.Protocol;
using RpcGen.Transport;

namespace RpcGen.Client.Internal;

// The calls of a client connection: call ids and the pool of pending calls, the server's limit of calls at once
// (waiting in line for a slot), and sending requests.
internal partial class ClientConnection
{
    /// <summary>
    /// Registers a new call; null when the connection no longer takes calls, or (<paramref name="full"/>) when the
    /// server's limit of calls at once on a connection is reached: then <see cref="WaitForSlot"/> says when to try again.
    /// </summary>
    public PendingCall? TryStartCall(out bool full)
    {
        full = false;
        lock (_lock)
        {
            if (_draining || IsClosed)
            {
                return null;
            }

            if (_maxCalls > 0 && _calls.Count >= _maxCalls)
            {
                full = true;
                return null;
            }

            PendingCall call = _pool.Count > 0 ? _pool.Pop() : new PendingCall(this);
            uint id = ++_nextCallId;
            if (id == 0)
            {
                id = ++_nextCallId;
            }

            call.Id = id;
            _calls.Add(id, call);
            return call;
        }
    }

    /// <summary>
    /// Takes the call out of the table; true for exactly one of the racing completers. With <paramref name="cancel"/>,
    /// a call whose request went out gets a cancel frame, queued before the freed slot goes to a waiting call, so the
    /// server frees the slot (on the cancel) before that call's request arrives.
    /// </summary>
    public bool TryRemove(PendingCall call, bool cancel = false)
    {
        bool closeNow;
        TaskCompletionSource<bool>? waiter;
        lock (_lock)
        {
            if (!_calls.TryGetValue(call.Id, out PendingCall? current) || !ReferenceEquals(current, call))
            {
                return false;
            }

            _calls.Remove(call.Id);
            closeNow = _draining && _calls.Count == 0;
            waiter = NextWaiter();
        }

        if (cancel)
        {
            CancelIfSent(call);
        }

        waiter?.TrySetResult(true);
        if (closeNow)
        {
            _ = Output.CompleteAsync();
        }

        return true;
    }

    private PendingCall? TryRemove(uint id)
    {
        bool closeNow;
        PendingCall? call;
        TaskCompletionSource<bool>? waiter;
        lock (_lock)
        {
            if (!_calls.Remove(id, out call))
            {
                return null;
            }

            closeNow = _draining && _calls.Count == 0;
            waiter = NextWaiter();
        }

        waiter?.TrySetResult(true);
        if (closeNow)
        {
            _ = Output.CompleteAsync();
        }

        return call;
    }

    /// <summary>
    /// A task that completes when a call slot may have freed up (or the connection stopped taking calls), in arrival
    /// order; a caller that gives up waiting cancels its task, and the slot goes to the next in line.
    /// </summary>
    public TaskCompletionSource<bool>? WaitForSlot()
    {
        lock (_lock)
        {
            if (_draining || IsClosed || _maxCalls == 0 || _calls.Count < _maxCalls)
            {
                return null;
            }

            var waiter = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            (_slotWaiters ??= new Queue<TaskCompletionSource<bool>>()).Enqueue(waiter);
            return waiter;
        }
    }

    /// <summary>Passes a wake-up that its waiter no longer wants on to the next one.</summary>
    public void PassSlotOn()
    {
        TaskCompletionSource<bool>? waiter;
        lock (_lock)
        {
            waiter = NextWaiter();
        }

        waiter?.TrySetResult(true);
    }

    /// <summary>The first waiter that has not given up; under the lock.</summary>
    private TaskCompletionSource<bool>? NextWaiter()
    {
        if (_slotWaiters is null)
        {
            return null;
        }

        while (_slotWaiters.TryDequeue(out TaskCompletionSource<bool>? waiter))
        {
            if (!waiter.Task.IsCompleted)
            {
                return waiter;
            }
        }

        return null;
    }

    /// <summary>Wakes every waiter: the connection takes no more calls, so they go elsewhere.</summary>
    private void ReleaseAllWaiters()
    {
        TaskCompletionSource<bool>[] waiters;
        lock (_lock)
        {
            if (_slotWaiters is null || _slotWaiters.Count == 0)
            {
                return;
            }

            waiters = _slotWaiters.ToArray();
            _slotWaiters.Clear();
        }

        foreach (TaskCompletionSource<bool> waiter in waiters)
        {
            waiter.TrySetResult(false);
        }
    }

    /// <summary>Returns a completed call whose result the caller has read.</summary>
    public void Return(PendingCall call)
    {
        call.Reset();
        lock (_lock)
        {
            if (_pool.Count < 256 && !IsClosed)
            {
                _pool.Push(call);
                return;
            }
        }

        call.DisposeTimer();
    }

    private static readonly Func<PendingCall, bool> s_abandonAndCancelIfSent = static call =>
    {
        call.Abandoned = true;
        return call.Sent;
    };

    private static readonly Func<PendingCall, bool> s_sendUnlessAbandoned = static call =>
    {
        if (call.Abandoned)
        {
            return false;
        }

        call.Sent = true;
        return true;
    };

    /// <summary>
    /// Tells the server to stop working on a call the caller gave up on, if its request went out; a request not queued
    /// yet never will be. Decided under the output's lock, so a request and its cancel are queued in that order or not
    /// at all.
    /// </summary>
    private void CancelIfSent(PendingCall call)
    {
        Span<byte> frame = stackalloc byte[FrameEncoder.CancelLength];
        FrameEncoder.WriteCancel(frame, call.Id);
        Output.TryEnqueue(frame, s_abandonAndCancelIfSent, call);
    }

    /// <summary>
    /// Queues a call's request frame, unless the call already ended (its deadline passed, or its caller cancelled).
    /// False when the frame was not queued; <paramref name="closed"/> says whether because the connection closed.
    /// </summary>
    public bool TrySendRequest(PendingCall call, ReadOnlySpan<byte> frame, out bool closed)
    {
        EnqueueResult result = Output.TryEnqueue(frame, s_sendUnlessAbandoned, call);
        closed = result == EnqueueResult.Closed;
        return result == EnqueueResult.Queued;
    }
}

using System;
using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Transport;

/// <summary>
/// The sending side of a stream's flow control: the items and bytes the receiver has granted (credit frames) and not
/// yet been sent. An item may be sent while at least one item and one byte of credit are left; its length is then taken
/// from the bytes, which may go below zero by up to that one item (so an item larger than the window still goes, one at
/// a time). A sender without credit awaits <see cref="WaitAsync"/>: what it holds is the one item in hand.
/// </summary>
internal sealed class StreamCredit
{
    /// <summary>Credit is kept below this, whatever a peer grants (a grant of 2^32 - 1 items, again and again, is harmless).</summary>
    private const long MaxCredit = int.MaxValue;

    private readonly object _lock = new();
    private long _items;
    private long _bytes;
    private bool _closed;
    private TaskCompletionSource? _waiter;

    /// <summary>Adds a grant; wakes a sender waiting for credit.</summary>
    public void Grant(uint items, uint bytes)
    {
        TaskCompletionSource? waiter;
        lock (_lock)
        {
            _items = Math.Min(_items + items, MaxCredit);
            _bytes = Math.Min(_bytes + bytes, MaxCredit);
            if (!HasCreditLocked)
            {
                return;
            }

            waiter = _waiter;
            _waiter = null;
        }

        waiter?.TrySetResult();
    }

    private bool HasCreditLocked => _items >= 1 && _bytes > 0;

    /// <summary>Whether an item may be sent now: at least one item and one byte of credit are left.</summary>
    public bool HasCredit
    {
        get
        {
            lock (_lock)
            {
                return HasCreditLocked;
            }
        }
    }

    /// <summary>
    /// Takes the credit of one item of <paramref name="length"/> bytes, after <see cref="HasCredit"/> said there was
    /// some (only the sender takes credit, so it is still there).
    /// </summary>
    public void Take(int length)
    {
        lock (_lock)
        {
            _items--;
            _bytes -= length;
        }
    }

    /// <summary>Completes when there is credit for an item, or the stream ended (<see cref="Close"/>).</summary>
    public Task WaitAsync(CancellationToken cancellationToken)
    {
        Task waiting;
        lock (_lock)
        {
            if (_closed || HasCreditLocked)
            {
                return Task.CompletedTask;
            }

            _waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            waiting = _waiter.Task;
        }

        return cancellationToken.CanBeCanceled ? waiting.WaitAsync(cancellationToken) : waiting;
    }

    /// <summary>The stream ended: a waiting sender wakes (and finds it closed).</summary>
    public void Close()
    {
        TaskCompletionSource? waiter;
        lock (_lock)
        {
            _closed = true;
            waiter = _waiter;
            _waiter = null;
        }

        waiter?.TrySetResult();
    }

    public bool IsClosed
    {
        get
        {
            lock (_lock)
            {
                return _closed;
            }
        }
    }
}

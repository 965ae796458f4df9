using System.Threading.Tasks.Sources;
using System.Threading.Tasks;
using System.Threading;
using System;
using RpcGen.Transport;

namespace RpcGen.Client.Internal;

/// <summary>
/// One outstanding call on a client connection: the awaitable the caller waits on. Pooled per connection. Whoever
/// removes the call from the connection's table (response, error, cancellation, deadline, connection loss) completes
/// it, so it completes exactly once and a late response can never reach a reused instance.
/// </summary>
internal sealed class PendingCall : IValueTaskSource<ResponseData>
{
    private static readonly Action<object?, CancellationToken> s_onCallerCancelled =
        static (state, token) => ((PendingCall)state!).OnCallerCancelled(token);

    private ManualResetValueTaskSourceCore<ResponseData> _core;
    private readonly ClientConnection _connection;
    private CancellationTokenRegistration _registration;
    private ITimer? _timer;
    private long _deadlineTimestamp = long.MaxValue;
    private long _timerTarget = long.MaxValue; // the deadline the pending timer was set for; MaxValue once it fired (or never set)

    public PendingCall(ClientConnection connection)
    {
        _connection = connection;
        _core.RunContinuationsAsynchronously = true;
    }

    public uint Id { get; set; }

    /// <summary>The connection the call is on.</summary>
    public ClientConnection Connection => _connection;

    /// <summary>Set when the request went out on the connection (so the server may have run it).</summary>
    public bool Sent { get; set; }

    /// <summary>Set when the call ended before its request was queued: it must not be sent any more.</summary>
    public bool Abandoned { get; set; }


    /// <summary>The stream this call is an attempt of (its items and credit frames go there); null for a unary call.</summary>
    public ClientStream? Stream { get; set; }

    /// <summary>
    /// Moves the deadline of a call in flight (a stream's: from its first message's to its idle or hard deadline);
    /// <see cref="long.MaxValue"/> removes it. A timer set for earlier fires, finds the time not up and sets itself again.
    /// </summary>
    public void MoveDeadline(long deadlineTimestamp, long now)
    {
        Interlocked.Exchange(ref _deadlineTimestamp, deadlineTimestamp);
        if (deadlineTimestamp != long.MaxValue)
        {
            long pending = Volatile.Read(ref _timerTarget);
            if (pending > deadlineTimestamp || pending == long.MaxValue)
            {
                SetTimer(_connection.TimeProvider, now, deadlineTimestamp);
            }
        }
    }

    public ValueTask<ResponseData> AsValueTask() => new(this, _core.Version);

    /// <summary>
    /// Starts watching the caller's token and the deadline.
    /// <para>
    /// The deadline timer is lazy: a pooled instance's timer stays set from an earlier call, and when it will fire no
    /// later than this call's deadline it is left alone (no timer change, with the timer queue's lock, per call). If it
    /// fires before this deadline, <see cref="OnDeadline"/> finds the time not up and sets it for the rest, as for any
    /// early fire. So with the usual long default deadline an instance's timer changes about once per deadline period
    /// instead of once per call. Whether the timer is still pending is settled by a full fence on each side: this method
    /// publishes the deadline before it reads <see cref="_timerTarget"/>, the timer clears that before it reads the
    /// deadline, so either this method sees the timer fired and sets it again, or the timer sees the new deadline.
    /// </para>
    /// </summary>
    public void Arm(CancellationToken cancellationToken, long deadlineTimestamp, TimeProvider timeProvider, long now)
    {
        Interlocked.Exchange(ref _deadlineTimestamp, deadlineTimestamp);
        if (deadlineTimestamp != long.MaxValue)
        {
            if (now >= deadlineTimestamp)
            {
                OnDeadline();
                return;
            }

            long pending = Volatile.Read(ref _timerTarget);
            if (pending > deadlineTimestamp || pending == long.MaxValue)
            {
                SetTimer(timeProvider, now, deadlineTimestamp);
            }
        }

        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(s_onCallerCancelled, this);
        }
    }

    public void SetResult(ResponseData data) => _core.SetResult(data);

    /// <summary>
    /// When the read that brought the call's response or error completed, on the connection's clock; 0 when the call
    /// ended otherwise (cancelled, timed out, the connection lost).
    /// </summary>
    public long AnsweredAt { get; set; }

    /// <summary>
    /// Completes the call with its caller resumed on this thread (the read loop's, inside a hand-off section), if it
    /// awaits already; <see cref="Reset"/> turns that off again.
    /// </summary>
    public void SetResultInline(ResponseData data)
    {
        _core.RunContinuationsAsynchronously = false;
        _core.SetResult(data);
    }

    /// <summary>Ends the call with <paramref name="error"/>, as a value: the awaiter gets it in <see cref="ResponseData.Error"/>, nothing is thrown.</summary>
    public void Fail(Exception error) => _core.SetResult(new ResponseData(error));

    private void OnCallerCancelled(CancellationToken token)
    {
        if (_connection.TryRemove(this, cancel: true))
        {
            Fail(new OperationCanceledException("The call was cancelled by the caller.", token));
        }
    }

    /// <summary>
    /// The deadline timer fired. Timers may fire early (a due time is rounded to whole milliseconds, and a custom
    /// <see cref="TimeProvider"/> may fire when it likes), so the deadline is compared with the clock, and a timer that
    /// fired too soon is armed again for the time left: a deadline is never dropped.
    /// </summary>
    private void OnDeadline()
    {
        TimeProvider time = _connection.TimeProvider;
        Interlocked.Exchange(ref _timerTarget, long.MaxValue); // fired: an Arm from now on sets the timer itself
        while (true)
        {
            long deadline = Volatile.Read(ref _deadlineTimestamp);
            if (deadline == long.MaxValue)
            {
                return; // the call ended (or was reset) before the timer fired
            }

            long now = time.GetTimestamp();
            if (now >= deadline)
            {
                break;
            }

            // Early (or set for an earlier call of this instance): fire again when the time is up. A timestamp that
            // changed meanwhile (the instance was reset and armed for another call) is read again, so that the last
            // change always matches the current deadline.
            SetTimer(time, now, deadline);
            if (Volatile.Read(ref _deadlineTimestamp) == deadline)
            {
                return;
            }
        }

        if (_connection.TryRemove(this, cancel: true))
        {
            // After the removal with cancel, Sent is final: a request not queued by now never will be.
            Fail(new RpcException(RpcStatusCode.DeadlineExceeded,
                Stream?.DeadlineMessage(Sent)
                    ?? (Sent ? "The call's deadline passed before a response arrived." : "The call's deadline passed before its request was sent."))
            {
                Endpoint = _connection.Remote,
                NotProcessed = !Sent,
            });
        }
    }

    /// <summary>
    /// Sets the timer for <paramref name="deadline"/> and records that as the pending target. Under the instance's lock,
    /// so that the recorded target is the one of the last change (the caller's <see cref="Arm"/> and an early fire may
    /// both set it); a target recorded too late would let an Arm skip a timer that fires after its deadline.
    /// </summary>
    private void SetTimer(TimeProvider time, long now, long deadline)
    {
        TimeSpan due = DeadlineTimer.DueIn(time, now, deadline);
        lock (this)
        {
            if (_timer is null)
            {
                _timer = DeadlineTimer.Create(time, static s => ((PendingCall)s!).OnDeadline(), this, due);
            }
            else
            {
                _timer.Change(due, Timeout.InfiniteTimeSpan);
            }

            Volatile.Write(ref _timerTarget, deadline);
        }
    }

    /// <summary>Makes the instance ready for another call; only after the caller has read the result.</summary>
    public void Reset()
    {
        _core.RunContinuationsAsynchronously = true;
        _registration.Dispose();
        _registration = default;
        // The timer is left armed: if it fires before the instance's next call re-arms it, OnDeadline finds no deadline
        // and does nothing (and a fire racing a re-arm finds the new deadline not yet due and re-arms for it). That saves
        // a timer change, with its lock, on every call.
        Volatile.Write(ref _deadlineTimestamp, long.MaxValue);
        Sent = false;
        Abandoned = false;
        AnsweredAt = 0;
        Stream = null;
        _core.Reset();
    }

    public void DisposeTimer() => _timer?.Dispose();

    ResponseData IValueTaskSource<ResponseData>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ResponseData>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<ResponseData>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

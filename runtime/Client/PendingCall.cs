using System;
using System.Buffers;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;

namespace RpcGen.Client;

/// <summary>A response body in a rented array; the receiver returns it with <see cref="Dispose"/>.</summary>
internal readonly struct ResponseData : IDisposable
{
    public ResponseData(byte[]? array, int length)
    {
        Array = array;
        Length = length;
    }

    public byte[]? Array { get; }

    public int Length { get; }

    public ReadOnlySpan<byte> Span => Array is null ? default : Array.AsSpan(0, Length);

    public void Dispose()
    {
        if (Array is not null)
        {
            ArrayPool<byte>.Shared.Return(Array);
        }
    }
}

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
    private readonly Transport.ClientConnection _connection;
    private CancellationTokenRegistration _registration;
    private ITimer? _timer;
    private long _deadlineTimestamp = long.MaxValue;

    public PendingCall(Transport.ClientConnection connection)
    {
        _connection = connection;
        _core.RunContinuationsAsynchronously = true;
    }

    public uint Id { get; set; }

    /// <summary>Set when the request went out on the connection (so the server may have run it).</summary>
    public bool Sent { get; set; }

    public ValueTask<ResponseData> AsValueTask() => new(this, _core.Version);

    /// <summary>Starts watching the caller's token and the deadline. Returns false if either already fired.</summary>
    public void Arm(CancellationToken cancellationToken, long deadlineTimestamp, TimeProvider timeProvider)
    {
        _deadlineTimestamp = deadlineTimestamp;
        if (deadlineTimestamp != long.MaxValue)
        {
            TimeSpan due = timeProvider.GetElapsedTime(timeProvider.GetTimestamp(), deadlineTimestamp);
            if (due <= TimeSpan.Zero)
            {
                OnDeadline();
                return;
            }

            if (_timer is null)
            {
                _timer = timeProvider.CreateTimer(static s => ((PendingCall)s!).OnDeadline(), this, due, Timeout.InfiniteTimeSpan);
            }
            else
            {
                _timer.Change(due, Timeout.InfiniteTimeSpan);
            }
        }

        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(s_onCallerCancelled, this);
        }
    }

    public void SetResult(ResponseData data) => _core.SetResult(data);

    public void SetException(Exception error) => _core.SetException(error);

    private void OnCallerCancelled(CancellationToken token)
    {
        if (_connection.TryRemove(this))
        {
            _connection.SendCancel(Id, Sent);
            _core.SetException(new OperationCanceledException("The call was cancelled by the caller.", token));
        }
    }

    private void OnDeadline()
    {
        // A timer firing late for a previous use of this instance finds a later (or no) deadline and does nothing.
        if (_connection.TimeProvider.GetTimestamp() < Volatile.Read(ref _deadlineTimestamp))
        {
            return;
        }

        if (_connection.TryRemove(this))
        {
            _connection.SendCancel(Id, Sent);
            _core.SetException(new RpcException(RpcStatusCode.DeadlineExceeded, "The call's deadline passed before a response arrived.")
            {
                Endpoint = _connection.Remote,
            });
        }
    }

    /// <summary>Makes the instance ready for another call; only after the caller has read the result.</summary>
    public void Reset()
    {
        _registration.Dispose();
        _registration = default;
        Volatile.Write(ref _deadlineTimestamp, long.MaxValue);
        _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Sent = false;
        _core.Reset();
    }

    public void DisposeTimer() => _timer?.Dispose();

    ResponseData IValueTaskSource<ResponseData>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ResponseData>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<ResponseData>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

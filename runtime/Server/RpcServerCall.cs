using System;
using System.ComponentModel;
using System.Text.Json.Serialization.Metadata;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Descriptors;
using RpcGen.Protocol;
using RpcGen.Server.Internal;

namespace RpcGen.Server;

/// <summary>
/// One call being served. Generated dispatchers pass its <see cref="CancellationToken"/> to the implementation and
/// hand the implementation's task to a <c>CompleteAsync</c> overload, which writes the response or the error frame.
/// Pooled: valid only until its response is written.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed partial class RpcServerCall
{
    private readonly object _lock = new();
    private ServerConnection _connection = null!;
    private CancellationTokenSource? _cancellation;
    private CancellationTokenSource? _spareCancellation; // a reset source kept from an earlier call of this instance
    private bool _cancelRequested;
    private int _cancelling;             // Cancels of _cancellation running outside the lock: while any does, the source is not reused
    private ITimer? _deadlineTimer;      // cancels the handler's token at the deadline; the instance's, kept across calls
    private long _timerTarget = long.MaxValue; // the deadline _deadlineTimer is set for; MaxValue when not pending
    private TimeProvider _time = TimeProvider.System;
    private long _deadline;
    private int _generation;

    internal uint Id { get; private set; }

    /// <summary>The method being called.</summary>
    public RpcMethodDescriptor Method { get; private set; } = null!;

    internal int Generation => Volatile.Read(ref _generation);

    /// <summary>The ambient context of the call's handler (pooled calls are reused: the context keeps what is this call's).</summary>
    internal RpcCallContext CreateContext() => new(Method, _connection.Server.TimeProvider, _deadline, this, Generation, IsRetryAttempt);

    /// <summary>The handler's token while <paramref name="generation"/> is still this instance's call; a cancelled one after.</summary>
    internal CancellationToken TokenFor(int generation)
    {
        lock (_lock)
        {
            return generation == _generation ? CancellationToken : new CancellationToken(canceled: true);
        }
    }

    /// <summary>The claim this run answers, for [Deduplicate] calls that carried a call id.</summary>
    internal DeduplicationGate.Run? Dedupe { get; set; }

    /// <summary>Sends an error that ends the call, and stores it for repeats of a deduplicated call.</summary>
    private void SendFinalError(RpcStatusCode code, string message, int? pushback = null, bool abandoned = false, FrameFlags flags = FrameFlags.None)
    {
        if (Span is not null || MetricsStart != 0)
        {
            Outcome = new RpcException(code, message);
        }

        if (Dedupe is { } run)
        {
            Dedupe = null;
            if (abandoned)
            {
                _connection.Server.Deduplication.Abandon(run);
            }
            else
            {
                byte[] metadata = Protocol.FrameEncoder.EncodeMetadata(SealHeaders(), SealTrailers());
                _connection.Server.Deduplication.Complete(run, new Deduplication.DeduplicationRecord(code, message, pushback, default, metadata));
            }
        }

        _connection.ReleaseSlot(this);
        if (ResponseMetadataLength(out _) < 0)
        {
            // Over the limit: the error still goes out, without the metadata (a failure to report one must not hide the other).
            Telemetry.RpcGenLog.ResponseMetadataTooLarge(_connection.Server.Logger, Method.FullName);
            _connection.SendError(Id, code, message, flags, pushback);
            return;
        }

        _connection.SendError(Id, code, message, flags, pushback, SealHeaders(), SealTrailers());
    }

    /// <summary>Stores a result frame's body and the response's metadata for repeats of a deduplicated call.</summary>
    private void StoreResult(ReadOnlySpan<byte> body)
    {
        if (Dedupe is { } run)
        {
            Dedupe = null;
            byte[] metadata = Protocol.FrameEncoder.EncodeMetadata(SealHeaders(), SealTrailers());
            var record = new Deduplication.DeduplicationRecord(RpcStatusCode.OK, null, null, body.ToArray(), metadata);
            _connection.Server.Deduplication.Complete(run, record);
        }
    }

    /// <summary>Answers a repeat of a deduplicated call with the first run's stored answer; the handler does not run.</summary>
    internal void WriteStored(Deduplication.DeduplicationRecord record)
    {
        if (Span is not null || MetricsStart != 0)
        {
            Outcome = record.Status == RpcStatusCode.OK ? null : new RpcException(record.Status, record.Message!);
        }

        ResponseSize = record.Body.Length;
        _connection.ReleaseSlot(this);
        _connection.SendStoredAnswer(Id, record);
    }

    /// <summary>True when the request carried the retry marker.</summary>
    internal bool IsRetryAttempt { get; private set; }

    /// <summary>
    /// Set (under the connection's lock) once the client cancelled the call: it no longer counts against the connection's
    /// limit of calls at once, as an HTTP/2 stream reset by the client no longer does, even while its handler finishes.
    /// </summary>
    internal bool Uncounted;

    /// <summary>
    /// True while the dispatcher runs on the connection's read loop and has not yet read the call's arguments: the
    /// receive buffer is in use until then, so the read loop cannot be handed to another thread.
    /// </summary>
    internal bool InReadLoop;

    /// <summary>The read loop's hand-off section opened once the arguments were read (0: none).</summary>
    internal int HandOffToken;

    /// <summary>
    /// Called by generated dispatchers (through <see cref="RpcServiceActivator{TService}.Get"/>) once the arguments are
    /// read, just before the implementation runs: from here a handler run inline may keep the read loop's thread, and
    /// the loop is handed to another thread if it does for long.
    /// </summary>
    internal void ArgumentsRead()
    {
        if (InReadLoop)
        {
            InReadLoop = false;
            HandOffToken = _connection.BeginHandlerSection();
        }
    }

    internal void Start(ServerConnection connection, uint id, RpcMethodDescriptor method, uint timeoutMilliseconds, long arrived, bool isRetryAttempt = false, RpcMetadata? requestHeaders = null)
    {
        Uncounted = false;
        _requestHeaders = requestHeaders;
        _connection = connection;
        IsRetryAttempt = isRetryAttempt;
        Id = id;
        Method = method;
        TimeProvider time = connection.Server.TimeProvider;
        _time = time;
        _deadline = timeoutMilliseconds == 0
            ? long.MaxValue
            : arrived + (timeoutMilliseconds * time.TimestampFrequency / 1000); // from the request's arrival
    }

    /// <summary>
    /// Fires when the call's deadline passes, the client cancels the call, or the server aborts. Created on first use,
    /// so handlers that take no token pay nothing for it.
    /// </summary>
    public CancellationToken CancellationToken
    {
        get
        {
            CancellationTokenSource? source = _cancellation;
            if (source is not null)
            {
                return source.Token;
            }

            lock (_lock)
            {
                if (_cancellation is null)
                {
                    // The source of an earlier call, reset, when there is one: no source per call. Its deadline is this
                    // instance's own timer's (below), so the source never has a timer to reset.
                    CancellationTokenSource created = _spareCancellation ?? new CancellationTokenSource();
                    _spareCancellation = null;
                    if (_cancelRequested)
                    {
                        created.Cancel();
                    }
                    else if (_deadline != long.MaxValue && (_timerTarget == long.MaxValue || _timerTarget > _deadline))
                    {
                        // No timer, or one set for a later deadline. A timer still set for an earlier call's deadline
                        // fires no later than this one's and finds this source then (OnDeadlineTimer cancels it if the
                        // deadline has passed, else sets itself again): most calls change no timer and read no clock.
                        long now = _time.GetTimestamp();
                        if (now >= _deadline)
                        {
                            created.Cancel();
                        }
                        else
                        {
                            SetDeadlineTimerLocked(now);
                        }
                    }

                    _cancellation = created;
                }

                return _cancellation.Token;
            }
        }
    }

    /// <summary>Sets the deadline timer for this call's deadline. Under the lock.</summary>
    private void SetDeadlineTimerLocked(long now)
    {
        TimeSpan due = Transport.DeadlineTimer.DueIn(_time, now, _deadline);
        if (_deadlineTimer is null)
        {
            _deadlineTimer = Transport.DeadlineTimer.Create(_time, static s => ((RpcServerCall)s!).OnDeadlineTimer(), this, due);
        }
        else
        {
            _deadlineTimer.Change(due, Timeout.InfiniteTimeSpan);
        }

        _timerTarget = _deadline;
    }

    /// <summary>
    /// The deadline timer fired: cancels the token of the call in progress if its deadline has passed. A fire meant for
    /// an earlier call of this instance, or early (timers may fire early), sets the timer again for the time left; with no
    /// token handed out there is nothing to cancel, and the next one handed out sets the timer itself.
    /// </summary>
    private void OnDeadlineTimer()
    {
        CancellationTokenSource? source;
        lock (_lock)
        {
            _timerTarget = long.MaxValue;
            source = _cancellation;
            if (source is null || _deadline == long.MaxValue || source.IsCancellationRequested)
            {
                return;
            }

            long now = _time.GetTimestamp();
            if (now < _deadline)
            {
                SetDeadlineTimerLocked(now);
                return;
            }

            _cancelling++;
        }

        CancelOutsideLock(source);
    }

    /// <summary>
    /// Cancels a token source of this instance without holding the lock (its callbacks are the handler's code); meanwhile
    /// <see cref="Release"/> does not hand the source on to the next call.
    /// </summary>
    private void CancelOutsideLock(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Completed meanwhile.
        }
        catch (AggregateException ex)
        {
            Telemetry.RpcGenLog.CancellationCallbackThrew(_connection?.Server.Logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, ex, Method?.FullName ?? "?");
        }
        finally
        {
            lock (_lock)
            {
                _cancelling--;
            }
        }
    }

    /// <summary>Cancels the handler's token, if this is still the call of that generation.</summary>
    internal void Cancel(int generation)
    {
        CancellationTokenSource? source;
        lock (_lock)
        {
            if (generation != _generation)
            {
                return;
            }

            _cancelRequested = true;
            source = _cancellation;
            if (source is null)
            {
                return; // no token handed out yet: the getter hands out a cancelled one
            }

            _cancelling++;
        }

        CancelOutsideLock(source);
    }

    /// <summary>Completes the call with the result of <paramref name="task"/>.</summary>
    public ValueTask CompleteAsync<T>(Task<T> task, JsonTypeInfo<T> resultType) => CompleteAsync(new ValueTask<T>(task), resultType);

    /// <summary>Completes the call with the result of <paramref name="task"/>.</summary>
    public ValueTask CompleteAsync<T>(ValueTask<T> task, JsonTypeInfo<T> resultType)
    {
        if (task.IsCompletedSuccessfully)
        {
            Succeed(task.Result, resultType);
            return default;
        }

        return AwaitAsync(task, resultType);
    }

    /// <summary>Completes the call when <paramref name="task"/> completes.</summary>
    public ValueTask CompleteAsync(Task task) => CompleteAsync(new ValueTask(task));

    /// <summary>Completes the call when <paramref name="task"/> completes.</summary>
    public ValueTask CompleteAsync(ValueTask task)
    {
        if (task.IsCompletedSuccessfully)
        {
            task.GetAwaiter().GetResult();
            SucceedEmpty();
            return default;
        }

        return AwaitAsync(task);
    }

    private async ValueTask AwaitAsync<T>(ValueTask<T> task, JsonTypeInfo<T> resultType)
    {
        T result;
        try
        {
            result = await task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Fail(ex);
            return;
        }

        Succeed(result, resultType);
    }

    private async ValueTask AwaitAsync(ValueTask task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Fail(ex);
            return;
        }

        SucceedEmpty();
    }

    /// <summary>
    /// Ends this use of the instance; a later <see cref="Cancel"/> or deadline for it does nothing. The handler's token
    /// source is reset and kept for the next call when it was not cancelled, as ASP.NET Core pools a request's
    /// <c>RequestAborted</c>; one being cancelled on another thread right now is left to that thread and dropped.
    /// </summary>
    internal void Release()
    {
        CancellationTokenSource? source;
        bool cancelling;
        lock (_lock)
        {
            _generation++;
            source = _cancellation;
            _cancellation = null;
            _cancelRequested = false;
            cancelling = _cancelling > 0;
        }

        if (source is not null && !cancelling)
        {
            if (_spareCancellation is null && source.TryReset())
            {
                _spareCancellation = source;
            }
            else
            {
                source.Dispose();
            }
        }

        Dedupe = null;
        Stream = null;
        Outcome = null;
        MetricsStart = 0;
        MetricsCounted = false;
        Live = null;
        ResponseSize = 0;
        ResetMetadata();
        _connection = null!;
        Method = null!;
    }
}

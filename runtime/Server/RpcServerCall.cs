using System;
using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using RpcGen.Descriptors;
using RpcGen.Protocol;
using RpcGen.Transport;

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

    /// <summary>The deduplication entry this run answers, for [Deduplicate] calls that carried a call id.</summary>
    internal DeduplicationWindow.Entry? Dedupe { get; set; }

    /// <summary>Sends an error that ends the call, and stores it for repeats of a deduplicated call.</summary>
    private void SendFinalError(RpcStatusCode code, string message, int? pushback = null, bool abandoned = false, FrameFlags flags = FrameFlags.None)
    {
        if (Span is not null || MetricsStart != 0)
        {
            Outcome = new RpcException(code, message);
        }

        if (Dedupe is { } entry)
        {
            Dedupe = null;
            if (abandoned)
            {
                _connection.Server.Deduplication.Abandon(entry, code, message);
            }
            else
            {
                _connection.Server.Deduplication.Complete(entry, null, code, message, pushback);
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

    /// <summary>Stores a result frame's body for repeats of a deduplicated call.</summary>
    private void StoreResult(ReadOnlySpan<byte> body)
    {
        if (Dedupe is { } entry)
        {
            Dedupe = null;
            _connection.Server.Deduplication.Complete(entry, body.ToArray(), RpcStatusCode.OK, null, null);
        }
    }

    /// <summary>True when the request carried the retry marker.</summary>
    internal bool IsRetryAttempt { get; private set; }

    /// <summary>
    /// Set (under the connection's lock) once the client cancelled the call: it no longer counts against the connection's
    /// limit of calls at once, as an HTTP/2 stream reset by the client no longer does, even while its handler finishes.
    /// </summary>
    internal bool Uncounted;

    internal void Start(ServerConnection connection, uint id, RpcMethodDescriptor method, uint timeoutMilliseconds, long arrived, bool isRetryAttempt = false, RpcMetadata? requestHeaders = null)
    {
        Uncounted = false;
        _requestHeaders = requestHeaders;
        _connection = connection;
        IsRetryAttempt = isRetryAttempt;
        Id = id;
        Method = method;
        TimeProvider time = connection.Server.TimeProvider;
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
                    TimeProvider time = _connection.Server.TimeProvider;
                    // The source of an earlier call, reset, when there is one: no source and no timer per call.
                    CancellationTokenSource created = _spareCancellation ?? new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
                    _spareCancellation = null;
                    if (_cancelRequested)
                    {
                        created.Cancel();
                    }
                    else if (_deadline != long.MaxValue)
                    {
                        TimeSpan remaining = time.GetElapsedTime(time.GetTimestamp(), _deadline);
                        if (remaining <= TimeSpan.Zero)
                        {
                            created.Cancel();
                        }
                        else
                        {
                            created.CancelAfter(remaining);
                        }
                    }

                    _cancellation = created;
                }

                return _cancellation.Token;
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
        }

        try
        {
            source?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Completed meanwhile.
        }
        catch (AggregateException ex)
        {
            Telemetry.RpcGenLog.CancellationCallbackThrew(_connection.Server.Logger, ex, Method.FullName);
        }
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
    /// Ends this use of the instance; a later <see cref="Cancel"/> for it does nothing. The handler's token source is
    /// reset and kept for the next call when it was not cancelled and its deadline is not near (a timer about to fire
    /// could otherwise cancel the next call's token), as ASP.NET Core pools a request's <c>RequestAborted</c>.
    /// </summary>
    internal void Release()
    {
        CancellationTokenSource? source;
        lock (_lock)
        {
            _generation++;
            source = _cancellation;
            _cancellation = null;
            _cancelRequested = false;
        }

        if (source is not null)
        {
            TimeProvider time = _connection.Server.TimeProvider;
            bool farFromDeadline = _deadline == long.MaxValue ||
                _deadline - time.GetTimestamp() > time.TimestampFrequency; // more than a second left
            if (farFromDeadline && _spareCancellation is null && source.TryReset())
            {
                _spareCancellation = source;
            }
            else
            {
                source.Dispose();
            }
        }

        Dedupe = null;
        Outcome = null;
        MetricsStart = 0;
        ResponseSize = 0;
        ResetMetadata();
        _connection = null!;
        Method = null!;
    }
}

using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Protocol;
using RpcGen.Serialization;
using RpcGen.Transport;

namespace RpcGen.Client;

/// <summary>
/// The runtime surface generated proxies call: one <c>InvokeAsync</c> per call, with a method built once per proxy and
/// the arguments in a generated struct. Picks an endpoint, writes the request frame, waits for the response under the
/// method's deadline and the caller's token, and reads the result.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class RpcCallInvoker
{
    private readonly RpcClient _client;

    private readonly bool _explicitOptions;

    internal RpcCallInvoker(RpcClient client, JsonSerializerOptions? explicitOptions)
    {
        _client = client;
        _explicitOptions = explicitOptions is not null;
        SerializerOptions = explicitOptions ?? RpcDefaults.CreateSerializerOptions();
    }

    /// <summary>The serializer options arguments and results use (unless a service names its own JSON context).</summary>
    public JsonSerializerOptions SerializerOptions { get; }

    /// <summary>
    /// Resolves the JSON contract of <typeparamref name="T"/> for <paramref name="service"/>: from the client's
    /// <c>SerializerOptions</c> when they were given, else from the service's named JSON context, else the defaults.
    /// </summary>
    public JsonTypeInfo<T> GetTypeInfo<T>(RpcServiceDescriptor service) =>
        RpcDefaults.GetTypeInfo<T>(RpcDefaults.OptionsFor(service, SerializerOptions, _explicitOptions));

    /// <summary>Prepares a method without a result.</summary>
    public RpcClientMethod GetMethod(RpcMethodDescriptor descriptor) => new(descriptor, _client.GetBalancer(descriptor));

    /// <summary>Prepares a method with a result.</summary>
    public RpcClientMethod<TResult> GetMethod<TResult>(RpcMethodDescriptor descriptor) =>
        new(descriptor, _client.GetBalancer(descriptor), GetTypeInfo<TResult>(descriptor.Service));

    /// <summary>Calls a method that returns a result.</summary>
    public async ValueTask<TResult> InvokeAsync<TArguments, TResult>(RpcClientMethod<TResult> method, TArguments arguments, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        (ResponseData response, string endpoint) = await SendAsync(method, arguments, cancellationToken).ConfigureAwait(false);
        using (response)
        {
            return method.ReadResult(response.Span, endpoint);
        }
    }

    /// <summary>Calls a method that returns no result.</summary>
    public async ValueTask InvokeAsync<TArguments>(RpcClientMethod method, TArguments arguments, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        (ResponseData response, _) = await SendAsync(method, arguments, cancellationToken).ConfigureAwait(false);
        response.Dispose();
    }

    /// <summary>
    /// Sends the request and waits for its response. A request that provably never reached a handler (connection
    /// refused, or refused by a server that is shutting down) is sent to another endpoint, as gRPC's transparent retry
    /// does; anything else is the caller's to see. Each attempt's outcome feeds the endpoint's health and latency.
    /// </summary>
    private async ValueTask<(ResponseData, string)> SendAsync<TArguments>(RpcClientMethod method, TArguments arguments, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_client.IsDisposed)
        {
            throw new ObjectDisposedException(nameof(RpcClient));
        }

        TimeProvider time = _client.TimeProvider;
        long deadline = method.TimeoutMilliseconds > 0
            ? time.GetTimestamp() + (method.TimeoutMilliseconds * time.TimestampFrequency / 1000)
            : long.MaxValue;
        if (RpcCallContext.Current is { } served)
        {
            // Called from inside a handler: never outlive the call being served (deadline propagation).
            TimeSpan left = served.Remaining;
            if (left <= TimeSpan.Zero)
            {
                throw new RpcException(RpcStatusCode.DeadlineExceeded,
                    $"'{method.Descriptor.FullName}' was called after the deadline of the call being served ('{served.Method.FullName}') had passed.");
            }

            long inherited = time.GetTimestamp() + (long)(left.TotalSeconds * time.TimestampFrequency);
            deadline = Math.Min(deadline, inherited);
        }
        ulong hashKey = method.HasHashKey ? arguments.GetHashKey() : 0;
        TriedEndpoints tried = default;
        RpcException? lastError = null;
        int maxAttempts = _client.EndpointSet.All.Length + 2;
        for (int attempt = 0; attempt < maxAttempts; attempt++)
        {
            long start = time.GetTimestamp();
            RpcEndpointState? endpoint = Pick(method, hashKey, tried, start);
            if (endpoint is null)
            {
                break;
            }

            _client.CallStarted(endpoint);
            ClientConnection connection;
            PendingCall? call;
            try
            {
                ValueTask<ClientConnection> connecting = endpoint.GetConnectionAsync(cancellationToken);
                connection = connecting.IsCompletedSuccessfully ? connecting.Result : await connecting.ConfigureAwait(false);
                call = connection.TryStartCall();
                if (call is null)
                {
                    // The connection began draining between the pick and now; the next attempt opens another.
                    _client.CallEnded(endpoint, start, CallOutcome.Neutral);
                    continue;
                }
            }
            catch (RpcException ex) when (ex.NotProcessed)
            {
                _client.CallEnded(endpoint, start, CallOutcome.Failure);
                lastError = ex;
                tried = tried.Add(endpoint.Id);
                continue;
            }
            catch
            {
                _client.CallEnded(endpoint, start, CallOutcome.Neutral);
                throw;
            }

            call.Arm(cancellationToken, deadline, time);
            if (!TryWriteRequest(method, ref arguments, connection, call, deadline, time, out RpcException? writeError))
            {
                if (writeError is not null)
                {
                    connection.Return(call);
                    _client.CallEnded(endpoint, start, CallOutcome.Neutral);
                    throw writeError;
                }

                // The connection closed before the frame left: nothing was sent, try elsewhere.
            }

            ResponseData response;
            try
            {
                response = await call.AsValueTask().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                connection.Return(call);
                _client.CallEnded(endpoint, start, Classify(ex));
                if (ex is RpcException { NotProcessed: true } rpc && attempt + 1 < maxAttempts && time.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested)
                {
                    lastError = rpc;
                    tried = tried.Add(endpoint.Id);
                    continue;
                }

                throw;
            }

            connection.Return(call);
            _client.CallEnded(endpoint, start, CallOutcome.Success);
            return (response, connection.Remote);
        }

        throw lastError ?? new RpcException(RpcStatusCode.Unavailable, $"No endpoint could take '{method.Descriptor.FullName}'.") { NotProcessed = true };
    }

    /// <summary>Asks the method's balancer for an endpoint among the candidates that this call has not tried.</summary>
    private RpcEndpointState? Pick(RpcClientMethod method, ulong hashKey, TriedEndpoints tried, long timestamp)
    {
        EndpointSet set = _client.EndpointSet;
        ReadOnlySpan<RpcEndpointState> candidates = set.Candidates;
        if (!tried.IsEmpty)
        {
            var remaining = new List<RpcEndpointState>(candidates.Length);
            foreach (RpcEndpointState candidate in candidates)
            {
                if (!tried.Contains(candidate.Id))
                {
                    remaining.Add(candidate);
                }
            }

            candidates = remaining.ToArray();
        }

        if (candidates.IsEmpty)
        {
            return null;
        }

        var context = new LoadBalancingContext(set, candidates, method.Descriptor, hashKey, method.HasHashKey, timestamp, tried, _client.TotalInFlight);
        return method.Balancer.Pick(context);
    }

    /// <summary>What an attempt's failure says about its endpoint's health.</summary>
    private static CallOutcome Classify(Exception error) => error switch
    {
        OperationCanceledException => CallOutcome.Neutral,
        RpcException { NotProcessed: true } => CallOutcome.Neutral, // refused by a server shutting down gracefully
        RpcException { StatusCode: RpcStatusCode.Unavailable or RpcStatusCode.DeadlineExceeded } => CallOutcome.Failure,
        RpcException => CallOutcome.Success, // the server answered, with an application error
        _ => CallOutcome.Failure,
    };

    /// <summary>
    /// Serializes the arguments straight behind the frame header in a per-thread buffer and queues the frame. Returns
    /// false when the frame was not sent; <paramref name="error"/> is set when it must not be retried either.
    /// </summary>
    private bool TryWriteRequest<TArguments>(
        RpcClientMethod method, ref TArguments arguments, ClientConnection connection, PendingCall call,
        long deadline, TimeProvider time, out RpcException? error)
        where TArguments : struct, IRpcArguments
    {
        error = null;
        uint timeoutMs = 0;
        if (deadline != long.MaxValue)
        {
            double remaining = time.GetElapsedTime(time.GetTimestamp(), deadline).TotalMilliseconds;
            timeoutMs = remaining <= 1 ? 1u : (uint)Math.Min(Math.Ceiling(remaining), uint.MaxValue);
        }

        byte[] name = method.NameUtf8;
        int prefix = ProtocolConstants.HeaderLength + RequestBody.PrefixLength(name.Length);
        RequestWriterCache cache = RequestWriterCache.Rent();
        try
        {
            PooledBuffer buffer = cache.Buffer;
            buffer.GetSpan(prefix);
            buffer.Advance(prefix);
            Utf8JsonWriter writer = cache.Writer;
            writer.Reset(buffer);
            try
            {
                arguments.Write(writer);
                writer.Flush();
            }
            catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
            {
                if (connection.TryRemove(call))
                {
                    error = new RpcException(RpcStatusCode.InvalidArgument, $"The arguments of '{method.Descriptor.FullName}' could not be serialized: {ex.Message}", ex) { NotProcessed = true };
                }

                return false;
            }

            int bodyLength = buffer.WrittenCount - ProtocolConstants.HeaderLength;
            if (bodyLength > connection.MaxFrameBytes)
            {
                if (connection.TryRemove(call))
                {
                    error = new RpcException(
                        RpcStatusCode.ResourceExhausted,
                        $"The request for '{method.Descriptor.FullName}' is {bodyLength} bytes, over the maximum frame size of {connection.MaxFrameBytes} bytes (RpcClientOptions.MaxFrameSize).")
                    {
                        NotProcessed = true,
                    };
                }

                return false;
            }

            Span<byte> frame = buffer.WrittenSpanWritable;
            FrameHeader.Write(frame, bodyLength, FrameType.Request, FrameFlags.None, call.Id);
            RequestBody.WritePrefix(frame.Slice(ProtocolConstants.HeaderLength), timeoutMs, name);
            call.Sent = true;
            if (connection.TrySend(frame))
            {
                return true;
            }

            call.Sent = false;
            if (connection.TryRemove(call))
            {
                call.SetException(new RpcException(RpcStatusCode.Unavailable, $"The connection to {connection.Remote} closed before the request was sent.")
                {
                    NotProcessed = true,
                    Endpoint = connection.Remote,
                });
            }

            return false;
        }
        finally
        {
            RequestWriterCache.Return(cache);
        }
    }
}

/// <summary>
/// Per-thread buffers and JSON writers for building request and response frames without allocating. Two per thread:
/// over the in-process transport a server writes its response on the thread that is still sending the request.
/// </summary>
internal sealed class RequestWriterCache
{
    [ThreadStatic]
    private static RequestWriterCache? t_first;

    [ThreadStatic]
    private static RequestWriterCache? t_second;

    private RequestWriterCache()
    {
        Buffer = new PooledBuffer();
        Writer = new Utf8JsonWriter(Buffer);
    }

    public PooledBuffer Buffer { get; }

    public Utf8JsonWriter Writer { get; }

    /// <summary>Takes one of this thread's caches, or a new one when both are in use further up the stack.</summary>
    public static RequestWriterCache Rent()
    {
        RequestWriterCache? cache = t_first;
        if (cache is not null)
        {
            t_first = null;
        }
        else
        {
            cache = t_second;
            t_second = null;
            cache ??= new RequestWriterCache();
        }

        cache.Buffer.Clear();
        return cache;
    }

    public static void Return(RequestWriterCache cache)
    {
        cache.Buffer.Clear();
        cache.Writer.Reset(cache.Buffer);
        if (t_first is null)
        {
            t_first = cache;
        }
        else if (t_second is null)
        {
            t_second = cache;
        }
        else
        {
            cache.Writer.Dispose();
            cache.Buffer.Dispose();
        }
    }
}

using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Client.Internal;
using RpcGen.Protocol;
using RpcGen.Serialization;

namespace RpcGen.Client;

// Streaming calls (docs/streaming.md). A stream is one call through the same layers as a unary one (deadline,
// interceptors, policies, attempts, telemetry): its "response" is its end. Server and duplex streams are cold
// IAsyncEnumerables: each enumeration is a call of its own, started by the first MoveNextAsync.
public sealed partial class RpcCallInvoker
{
    /// <summary>Calls a method that returns a stream (<c>IAsyncEnumerable&lt;TItem&gt;</c>).</summary>
    public IAsyncEnumerable<TItem> ServerStream<TArguments, TItem>(RpcClientMethod<TItem> method, TArguments arguments,
        CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments =>
        new StreamCall<TArguments, TItem, TItem>(this, method, arguments, null, null, cancellationToken);

    /// <summary>
    /// Calls a <c>[Resumable]</c> method that returns a stream: after a break (the connection lost, the server gone), the
    /// stream goes on from the last item the caller received, by a new call with its <c>[ResumeFrom]</c> argument set
    /// to that item's position.
    /// </summary>
    public IAsyncEnumerable<TItem> ResumableStream<TArguments, TItem>(
        RpcClientMethod<TItem> method, TArguments arguments, CancellationToken cancellationToken)
        where TArguments : struct, IRpcResumableArguments<TArguments> =>
        new StreamCall<TArguments, TItem, TItem>(
            this, method, arguments, null, null, cancellationToken, static (a, position) => a.ResumeAfter(position));

    /// <summary>
    /// Calls a method that takes the caller's stream of <typeparamref name="TInput"/> and returns a stream of <typeparamref name="TItem"/>.
    /// </summary>
    public IAsyncEnumerable<TItem> DuplexStream<TArguments, TInput, TItem>(
        RpcClientMethod<TItem> method, TArguments arguments, IAsyncEnumerable<TInput> input, JsonTypeInfo<TInput> inputType,
            CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        ArgumentNullException.ThrowIfNull(input);
        return new StreamCall<TArguments, TInput, TItem>(this, method, arguments, input, inputType, cancellationToken);
    }

    /// <summary>Calls a method that takes the caller's stream and returns one result.</summary>
    public async ValueTask<TResult> ClientStreamAsync<TArguments, TInput, TResult>(
        RpcClientMethod<TResult> method, TArguments arguments, IAsyncEnumerable<TInput> input, JsonTypeInfo<TInput> inputType,
            CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        AttemptResult result = await SendClientStreamAsync(method, arguments, input, inputType, cancellationToken).ConfigureAwait(false);
        using (result)
        {
            result.ThrowIfFailed();
            return method.ReadResult(result.Response.Span, result.Endpoint);
        }
    }

    /// <summary>Calls a method that takes the caller's stream and returns no result.</summary>
    public async ValueTask ClientStreamAsync<TArguments, TInput>(
        RpcClientMethod method, TArguments arguments, IAsyncEnumerable<TInput> input, JsonTypeInfo<TInput> inputType,
            CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        AttemptResult result = await SendClientStreamAsync(method, arguments, input, inputType, cancellationToken).ConfigureAwait(false);
        result.Dispose();
        result.ThrowIfFailed();
    }

    /// <summary>A client stream's call, to its end (the server's answer, with its metadata for the caller's scope).</summary>
    private async ValueTask<AttemptResult> SendClientStreamAsync<TArguments, TInput>(
        RpcClientMethod method, TArguments arguments, IAsyncEnumerable<TInput> input, JsonTypeInfo<TInput> inputType,
            CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        ArgumentNullException.ThrowIfNull(input);
        var stream = new ClientStream<TInput>(method, _client.TimeProvider, inbound: false, input, inputType);
        System.Diagnostics.Activity? span = ClientTelemetry.StartCall(method);
        stream.Span = span;
        long live = ClientTelemetry.LiveStart(method);
        AttemptResult result = await SendTracedAsync(method, arguments, span, cancellationToken, stream).ConfigureAwait(false);
        ClientTelemetry.LiveEnd(method, live, result.Error);
        RpcCallScope.Current?.Complete(result.Response.Metadata, result.Error);
        return result;
    }

    /// <summary>The position of the item a resumable stream's enumerator read last (null for other streams).</summary>
    internal interface IStreamPosition
    {
        long? LastPosition { get; }
    }

    /// <summary>A server or duplex stream not started yet: each enumeration is a call.</summary>
    private sealed class StreamCall<TArguments, TInput, TItem> : IAsyncEnumerable<TItem>
        where TArguments : struct, IRpcArguments
    {
        private readonly RpcCallInvoker _invoker;
        private readonly RpcClientMethod<TItem> _method;
        private readonly TArguments _arguments;
        private readonly IAsyncEnumerable<TInput>? _input;
        private readonly JsonTypeInfo<TInput>? _inputType;
        private readonly CancellationToken _cancellationToken;
        private readonly Func<TArguments, long, TArguments>? _resume;

        public StreamCall(
            RpcCallInvoker invoker, RpcClientMethod<TItem> method, TArguments arguments, IAsyncEnumerable<TInput>? input,
            JsonTypeInfo<TInput>? inputType, CancellationToken cancellationToken, Func<TArguments, long, TArguments>? resume = null)
        {
            _invoker = invoker;
            _method = method;
            _arguments = arguments;
            _input = input;
            _inputType = inputType;
            _cancellationToken = cancellationToken;
            _resume = resume;
        }

        public IAsyncEnumerator<TItem> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(this, cancellationToken);

        /// <summary>
        /// One enumeration of the stream. Its call runs in the background from the first <see cref="MoveNextAsync"/>; its
        /// items wait in the stream's inbox (within the window this side granted) until read. Disposing before the end
        /// cancels the call: the server's handler sees its token fire. A <c>[Resumable]</c> stream that breaks is
        /// called again from the position of the last item read, once its inbox is read to the end.
        /// </summary>
        private sealed class Enumerator : IAsyncEnumerator<TItem>, IStreamPosition
        {
            /// <summary>Calls that may resume a broken stream one after another without an item between them.</summary>
            private const int MaxResumesWithoutProgress = 6;

            private readonly StreamCall<TArguments, TInput, TItem> _call;
            private readonly CancellationTokenSource _cancellation;
            private readonly CancellationToken _callerToken;
            private ClientStream<TInput> _stream;
            private Task? _run;
            private HeadersAndTrailers? _metadata;
            private Exception? _error;
            private long _read;
            private long? _lastPosition;   // of the last item read, in a resumable stream
            private int _resumes;          // calls that resumed the stream since an item was last read
            private bool _headersReported; // the response headers of this call went to the caller's scope

            public Enumerator(StreamCall<TArguments, TInput, TItem> call, CancellationToken enumeratorToken)
            {
                _call = call;
                _cancellation = call._cancellationToken.CanBeCanceled && enumeratorToken.CanBeCanceled
                    ? CancellationTokenSource.CreateLinkedTokenSource(call._cancellationToken, enumeratorToken)
                    : CancellationTokenSource.CreateLinkedTokenSource(
                        call._cancellationToken.CanBeCanceled ? call._cancellationToken : enumeratorToken);
                _callerToken = _cancellation.Token;
                _stream = NewStream(resumed: false);
            }

            public TItem Current { get; private set; } = default!;

            public long? LastPosition => _lastPosition;

            private ClientStream<TInput> NewStream(bool resumed) =>
                new(_call._method, _call._invoker._client.TimeProvider, inbound: true, _call._input, _call._inputType) { Resumed = resumed };

            public async ValueTask<bool> MoveNextAsync()
            {
                _run ??= RunAsync(_call._arguments);
                while (true)
                {
                    _callerToken.ThrowIfCancellationRequested();
                    bool read;
                    Transport.StreamInbox.Item item;
                    try
                    {
                        (read, item) = await _stream.Inbox!.ReadAsync(_callerToken).ConfigureAwait(false);
                    }
                    catch (RpcException ex) when (MayResume(ex))
                    {
                        await ResumeAsync().ConfigureAwait(false);
                        continue;
                    }
                    catch (RpcException ex)
                    {
                        RpcCallScope.Current?.Complete(null, ex); // the scope keeps the error's headers and trailers
                        throw;
                    }

                    if (!read)
                    {
                        await _run.ConfigureAwait(false); // done already: the inbox ends when the call does
                        RpcCallScope.Current?.Complete(_metadata, _error);
                        return false;
                    }

                    try
                    {
                        if (_call._resume is not null)
                        {
                            if (_lastPosition is long last && item.Position <= last)
                            {
                                continue; // sent again by a server that resumed from an earlier position: read once only
                            }

                            _lastPosition = item.Position;
                            _resumes = 0;
                        }

                        _read++;
                        Current = RpcJson.Read(item.Json, _call._method.ResultType);
                        if (!_headersReported && _stream.ResponseHeaders is { } headers)
                        {
                            _headersReported = true; // the caller's scope has them from the first item on
                            RpcCallScope.Current?.ReceiveHeaders(headers);
                        }
                    }
                    catch (Exception ex) when (ex is JsonException or NotSupportedException)
                    {
                        _cancellation.Cancel();
                        throw new RpcException(RpcStatusCode.Internal,
                            $"Item {_read} of the stream of '{_call._method.Descriptor.FullName}' could not be read as {typeof(TItem).Name}: " +
                            ex.Message,
                            ex);
                    }
                    finally
                    {
                        _stream.Inbox.Release(item);
                    }

                    return true;
                }
            }

            /// <summary>
            /// A resumable stream broke (the connection was lost, the server went away): every item that arrived was read,
            /// so a new call from the last one's position loses and repeats nothing.
            /// </summary>
            private bool MayResume(RpcException error) =>
                _call._resume is not null && error.StatusCode == RpcStatusCode.Unavailable && _resumes < MaxResumesWithoutProgress &&
                !_callerToken.IsCancellationRequested;

            private async Task ResumeAsync()
            {
                await _run!.ConfigureAwait(false);
                if (_resumes > 0)
                {
                    // The first resume goes at once; one that failed again waits 50, 100, 200, 400 ms, as reconnects do.
                    TimeSpan delay = TimeSpan.FromMilliseconds(25 << _resumes);
                    await Task.Delay(delay, _call._invoker._client.TimeProvider, _callerToken).ConfigureAwait(false);
                }

                _resumes++;
                _stream.Inbox!.Discard(reader: true);
                _stream = NewStream(resumed: true);
                _headersReported = false;
                TArguments arguments = _lastPosition is long position ? _call._resume!(_call._arguments, position) : _call._arguments;
                ClientTelemetry.StreamResumed(_call._invoker._client, _call._method, _lastPosition, _resumes);
                _run = RunAsync(arguments);
            }

            /// <summary>The call, to its end; never throws: its outcome ends the inbox (the reader sees it after the last item).</summary>
            private async Task RunAsync(TArguments arguments)
            {
                RpcCallInvoker invoker = _call._invoker;
                ClientStream<TInput> stream = _stream;
                AttemptResult result;
                long live = ClientTelemetry.LiveStart(_call._method);
                try
                {
                    System.Diagnostics.Activity? span = ClientTelemetry.StartCall(_call._method);
                    stream.Span = span;
                    result = await invoker.SendTracedAsync(_call._method, arguments, span, _callerToken, stream).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    result = AttemptResult.Failed(ex);
                }

                ClientTelemetry.LiveEnd(_call._method, live, result.Error);

                _metadata = result.Response.Metadata;
                Exception? error = result.Error is StreamSourceException { InnerException: { } inner } ? inner : result.Error;
                if (error is RpcException rpc && _metadata is null)
                {
                    _metadata = rpc.ResponseHeaders is null && rpc.Trailers is null
                        ? null
                        : new HeadersAndTrailers(rpc.ResponseHeaders, rpc.Trailers);
                }

                _error = error;
                result.Dispose();
                stream.Inbox!.Complete(error);
            }

            public async ValueTask DisposeAsync()
            {
                if (_run is not null && !_run.IsCompleted)
                {
                    _cancellation.Cancel(); // the caller stopped early: the server's handler is told
                    await _run.ConfigureAwait(false);
                }

                _stream.Inbox!.Discard(reader: true);
                _cancellation.Dispose();
            }
        }
    }
}

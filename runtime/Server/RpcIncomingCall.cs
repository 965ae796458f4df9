using System;
using RpcGen.Descriptors;

namespace RpcGen.Server;

/// <summary>A call as a <see cref="RpcServerInterceptor"/> sees it.</summary>
public sealed class RpcIncomingCall
{
    private Action? _writeResult;

    internal RpcIncomingCall(RpcCallContext context, ReadOnlyMemory<byte> payload)
    {
        Context = context;
        Payload = payload;
    }

    /// <summary>The method being called.</summary>
    public RpcMethodDescriptor Method => Context.Method;

    /// <summary>The call's context: request headers, response headers and trailers, deadline, cancellation.</summary>
    public RpcCallContext Context { get; }

    /// <summary>The arguments as they arrived (a JSON array), valid until the interceptor's task completes.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>True once the handler was called (false while before <c>next</c>, or when an interceptor refused the call).</summary>
    public bool HandlerRan { get; private set; }

    /// <summary>After <c>next</c>: what the handler (or an inner interceptor) threw, or null when it succeeded.</summary>
    public Exception? Error { get; private set; }

    internal void Ran() => HandlerRan = true;

    /// <summary>The handler succeeded: the result is written when the interceptors are done.</summary>
    internal void Succeeded(Action writeResult) => _writeResult = writeResult;

    internal void Failed(Exception error) => Error = error;

    /// <summary>Writes what the handler produced (its result, or its error) once every interceptor returned.</summary>
    internal void WriteOutcome(RpcServerCall call)
    {
        if (Error is { } error)
        {
            // A refusal before the handler ran may say so (RpcException.NotProcessed): the client can then send the call elsewhere.
            call.WriteError(error, notProcessed: !HandlerRan && error is RpcException { NotProcessed: true });
        }
        else if (_writeResult is { } write)
        {
            write();
        }
        else
        {
            // No handler ran: its own message, not "Exception was thrown by handler" (which would send someone
            // looking for a handler's bug).
            call.WriteError(new RpcException(
                RpcStatusCode.Internal,
                $"An interceptor of '{Method.FullName}' returned without calling next or throwing, so the call has no outcome; no handler ran."));
        }
    }
}

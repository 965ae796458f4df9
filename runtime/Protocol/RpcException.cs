using System;

namespace RpcGen;

/// <summary>
/// A call failed with a status code. Thrown to callers by proxies; thrown by a handler it reaches the caller with its
/// code and message.
/// </summary>
public class RpcException : Exception
{
    /// <summary>Creates an exception with a status code and a message.</summary>
    public RpcException(RpcStatusCode statusCode, string message)
        : base(message) => StatusCode = statusCode;

    /// <summary>Creates an exception with a status code, a message and the exception that caused it.</summary>
    public RpcException(RpcStatusCode statusCode, string message, Exception? innerException)
        : base(message, innerException) => StatusCode = statusCode;

    /// <summary>The status code of the failed call.</summary>
    public RpcStatusCode StatusCode { get; }

    /// <summary>
    /// <see langword="true"/> when the request provably never reached a handler (the connection could not be made, or a
    /// server that is shutting down refused it), so trying it again elsewhere cannot run it twice.
    /// </summary>
    public bool NotProcessed { get; init; }

    /// <summary>The endpoint that produced the error, when one was chosen.</summary>
    public string? Endpoint { get; init; }

    /// <inheritdoc />
    public override string ToString() => $"{GetType().FullName}: Status({StatusCode}) {Message}";
}

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

    /// <summary>
    /// True when the call failed because its connection was lost (reset, keepalive unanswered) with other calls on it:
    /// outlier detection counts the loss once, for the connection, not once per call it took down.
    /// </summary>
    internal bool ConnectionLost { get; init; }

    /// <summary>The endpoint that produced the error, when one was chosen.</summary>
    public string? Endpoint { get; init; }

    /// <summary>
    /// Server pushback: thrown by a handler, asks clients to wait this long before retrying the call (which overrides
    /// their backoff); on the client, what the server asked for. Null when the server said nothing.
    /// </summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>
    /// Server pushback: thrown by a handler, tells clients not to retry this call at all (for example when the server
    /// is overloaded and retries would make it worse); on the client, that the server said so.
    /// </summary>
    public bool DoNotRetry { get; init; }

    /// <summary>True when the attempt's own timeout (<c>PerAttemptTimeoutMs</c>) passed, not the call's overall deadline.</summary>
    public bool AttemptTimedOut { get; init; }

    /// <summary>On the client: the headers the server sent with this error, or null when none.</summary>
    public RpcMetadata? ResponseHeaders { get; init; }

    /// <summary>
    /// On the client: the trailers the server sent with this error, or null when none. Thrown by a handler: trailers to
    /// send with the error (added to those the handler wrote on its <c>RpcCallContext</c>).
    /// </summary>
    public RpcMetadata? Trailers { get; init; }

    /// <inheritdoc />
    public override string ToString() => $"{GetType().FullName}: Status({StatusCode}) {Message}";
}

/// <summary>
/// A <c>[Broadcast]</c> call failed on at least one endpoint. <see cref="Errors"/> holds every endpoint's error; the
/// status code is the first one's.
/// </summary>
public sealed class RpcBroadcastException : RpcException
{
    /// <summary>Creates the exception from each failed endpoint's error.</summary>
    public RpcBroadcastException(string method, int endpoints, System.Collections.Generic.IReadOnlyList<RpcException> errors)
        : base(errors.Count > 0 ? errors[0].StatusCode : RpcStatusCode.Unknown, Describe(method, endpoints, errors)) => Errors = errors;

    /// <summary>The error of each endpoint that failed, in endpoint order.</summary>
    public System.Collections.Generic.IReadOnlyList<RpcException> Errors { get; }

    private static string Describe(string method, int endpoints, System.Collections.Generic.IReadOnlyList<RpcException> errors)
    {
        var text = new System.Text.StringBuilder();
        text.Append("The broadcast of '").Append(method).Append("' failed on ").Append(errors.Count).Append(" of ").Append(endpoints).Append(" endpoints:");
        foreach (RpcException error in errors)
        {
            text.Append(' ').Append(error.Endpoint ?? "?").Append(": ").Append(error.StatusCode).Append(" (").Append(error.Message).Append(");");
        }

        return text.ToString();
    }
}

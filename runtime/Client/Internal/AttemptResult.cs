using System;
using System.Runtime.ExceptionServices;

namespace RpcGen.Client.Internal;

/// <summary>
/// What an attempt produced: the response body (pooled; disposed by whoever drops it) and its endpoint, or the error
/// it failed with. Errors travel as values through the attempt loop and the resilience strategies and are thrown once,
/// to the caller: a burst of calls timing out together would otherwise spend a third of its CPU unwinding the same
/// exception through every layer.
/// </summary>
internal readonly struct AttemptResult : IDisposable
{
    public AttemptResult(ResponseData response, string endpoint)
    {
        Response = response;
        Endpoint = endpoint;
    }

    public ResponseData Response { get; }

    public string Endpoint { get; }

    /// <summary>The failure, or null when the attempt succeeded (kept in the response, so a result stays small).</summary>
    public Exception? Error => Response.Error;

    public static AttemptResult Failed(Exception error) => new(new ResponseData(error), string.Empty);

    /// <summary>Throws the failure (keeping its stack trace when it was thrown before).</summary>
    public void ThrowIfFailed()
    {
        if (Error is not null)
        {
            // The caller's own stream threw: the caller gets what it threw, not the wrapper that kept it off the endpoint's health.
            ExceptionDispatchInfo.Throw(Error is StreamSourceException { InnerException: { } inner } ? inner : Error);
        }
    }

    /// <summary>Polly's hedging disposes the results of attempts that lost, which returns their buffers.</summary>
    public void Dispose() => Response.Dispose();
}

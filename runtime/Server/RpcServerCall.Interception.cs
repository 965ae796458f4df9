using System;
using System.Text.Json.Serialization.Metadata;

namespace RpcGen.Server;

// A call's outcome: written at once, or, when interceptors run around the handler, kept until they return (so they see
// the outcome before the response leaves, and trailers they write after next still go out).
public sealed partial class RpcServerCall
{
    /// <summary>The call's server span, when a listener samples RpcGen's activity source.</summary>
    internal System.Diagnostics.Activity? Span { get; set; }

    /// <summary>When the call started, for its duration metric; 0 when no listener reads the server's call metrics.</summary>
    internal long MetricsStart { get; set; }

    /// <summary>The method's live window while the admin page watches (set when the call starts).</summary>
    internal Telemetry.LatencyWindow? Live { get; set; }

    /// <summary>True when the call's metrics were started (a listener reads them), not only timed for the admin page.</summary>
    internal bool MetricsCounted { get; set; }

    /// <summary>The size of the result sent (measured only with <see cref="MetricsStart"/>).</summary>
    internal int ResponseSize { get; set; }

    /// <summary>What the call ended with, for its span and metrics: null for a response, else the error that was sent.</summary>
    internal Exception? Outcome { get; set; }

    /// <summary>Set while interceptors run around this call's handler.</summary>
    internal RpcIncomingCall? Intercepted { get; set; }

    private void Succeed<T>(T value, JsonTypeInfo<T> resultType)
    {
        if (Intercepted is { } intercepted)
        {
            Defer(intercepted, value, resultType);
            return;
        }

        WriteResult(value, resultType);
    }

    // Its own method: a lambda that captures parameters allocates its closure on entry to the method that declares it,
    // which would cost every call (intercepted or not) 40 bytes.
    private void Defer<T>(RpcIncomingCall intercepted, T value, JsonTypeInfo<T> resultType) =>
        intercepted.Succeeded(() => WriteResult(value, resultType));

    private void SucceedEmpty()
    {
        if (Intercepted is { } intercepted)
        {
            intercepted.Succeeded(WriteEmpty);
            return;
        }

        WriteEmpty();
    }

    /// <summary>The handler (or the dispatcher, reading its arguments) failed.</summary>
    internal void Fail(Exception error)
    {
        if (Intercepted is { } intercepted)
        {
            intercepted.Failed(error);
            return;
        }

        WriteError(error);
    }
}

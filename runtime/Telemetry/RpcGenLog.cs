using System;
using Microsoft.Extensions.Logging;

namespace RpcGen.Telemetry;

// Every message RpcGen logs, written by the LoggerMessage source generator: no boxing or formatting unless the level
// is enabled, and a stable event id per message (docs/observability.md#logs lists them). Ids by area: 1xxx server,
// 2xxx client, 3xxx balancing and resilience, 4xxx the shipped logging interceptors. Never renumber one: dashboards
// and alerts key on them. Endpoints are passed as objects so this layer names nothing above Protocol.
internal static partial class RpcGenLog
{
    // ---- server -------------------------------------------------------------------------------------------------
    [LoggerMessage(1001, LogLevel.Information, "RpcGen server listening on {Endpoints}.")]
    public static partial void ServerListening(ILogger logger, string endpoints);

    [LoggerMessage(1002, LogLevel.Information, "RpcGen server stopped.")]
    public static partial void ServerStopped(ILogger logger);

    [LoggerMessage(1003, LogLevel.Warning, "Accepting a connection failed: {Error}")]
    public static partial void AcceptFailed(ILogger logger, string error);

    [LoggerMessage(1004, LogLevel.Warning, "Refused a connection from {Remote}: {Limit} connections are open (RpcServerOptions.Limits.MaxConnections).")]
    public static partial void ConnectionLimitReached(ILogger logger, object? remote, int limit);

    [LoggerMessage(1005, LogLevel.Warning, "Refused a connection from {Remote}: the TLS handshake failed: {Reason}")]
    public static partial void TlsHandshakeFailed(ILogger logger, object? remote, string reason);

    [LoggerMessage(1006, LogLevel.Warning, "Refused a connection from {Remote}: {Reason}.")]
    public static partial void PrefaceRefused(ILogger logger, object? remote, string reason);

    [LoggerMessage(1007, LogLevel.Debug, "Connection from {Remote} ended: {Error}")]
    public static partial void ConnectionEnded(ILogger logger, object? remote, string error);

    [LoggerMessage(1008, LogLevel.Warning, "Closing the connection from {Remote}: a frame did not finish arriving within {Timeout} (RpcServerOptions.Limits.FrameTimeout).")]
    public static partial void FrameTimedOut(ILogger logger, object? remote, TimeSpan timeout);

    [LoggerMessage(1009, LogLevel.Debug, "Closing the connection from {Remote}: idle for {Timeout} (RpcServerOptions.Limits.IdleTimeout).")]
    public static partial void ConnectionIdle(ILogger logger, object? remote, TimeSpan timeout);

    [LoggerMessage(1010, LogLevel.Error, "The handler of '{Method}' threw.")]
    public static partial void HandlerThrew(ILogger logger, Exception exception, string method);

    [LoggerMessage(1011, LogLevel.Error, "The result of '{Method}' could not be serialized.")]
    public static partial void ResultNotSerialized(ILogger logger, Exception exception, string method);

    [LoggerMessage(1012, LogLevel.Warning, "The response metadata of '{Method}' is over RpcServerOptions.Limits.MaxMetadataSize; the error is sent without it.")]
    public static partial void ResponseMetadataTooLarge(ILogger logger, string method);

    [LoggerMessage(1013, LogLevel.Warning, "A cancellation callback of '{Method}' threw.")]
    public static partial void CancellationCallbackThrew(ILogger logger, Exception exception, string method);

    [LoggerMessage(1014, LogLevel.Warning, "The authenticator failed on a call of '{Method}': {ExceptionType}: {RedactedMessage}")]
    public static partial void AuthenticatorFailed(ILogger logger, string method, string exceptionType, string redactedMessage);

    [LoggerMessage(1015, LogLevel.Warning, "Disposing what a call of '{Method}' registered for disposal threw.")]
    public static partial void DisposalFailed(ILogger logger, Exception exception, string method);

    [LoggerMessage(1016, LogLevel.Information, "RpcGen server draining: {InFlight} calls in flight, new calls are refused as not processed.")]
    public static partial void ServerDraining(ILogger logger, int inFlight);

    [LoggerMessage(1017, LogLevel.Warning, "Closing the connection from {Remote}: {Reason}.")]
    public static partial void ConnectionClosedForAbuse(ILogger logger, object? remote, string reason);

    [LoggerMessage(1018, LogLevel.Warning, "Closing the connection from {Remote}: it read none of the {Bytes} bytes queued for it within {Timeout} (RpcServerOptions.Limits.ResponseDrainTimeout).")]
    public static partial void ResponsesNotRead(ILogger logger, object? remote, long bytes, TimeSpan timeout);

    [LoggerMessage(1019, LogLevel.Warning, "{Count} more connection events like the last ('{Event}') in {Interval}, not logged one by one; the last from {Remote}.")]
    public static partial void EventsSuppressed(ILogger logger, int count, string @event, TimeSpan interval, object? remote);

    [LoggerMessage(1020, LogLevel.Error, "The deduplication store '{Store}' failed to {Operation} call {CallId} of '{Method}'.")]
    public static partial void DeduplicationStoreFailed(
        ILogger logger, Exception exception, string store, string operation, Guid callId, string method);

    [LoggerMessage(1021, LogLevel.Warning,
        "Call {CallId} of '{Method}' lost its claim in the deduplication store '{Store}' " +
        "(its lease ran out and another run took it over); its answer is not stored.")]
    public static partial void DeduplicationClaimLost(ILogger logger, Guid callId, string method, string store);

    [LoggerMessage(1022, LogLevel.Information,
        "The process went quiet after a storm: a full collection gave memory back, the heap committed {BeforeMiB} MiB before and " +
        "{AfterMiB} MiB after (RpcServerOptions.Limits.MemoryTrimInterval).")]
    public static partial void MemoryTrimmed(ILogger logger, long beforeMiB, long afterMiB);

    // ---- client -------------------------------------------------------------------------------------------------
    [LoggerMessage(2001, LogLevel.Debug, "Connected to {Endpoint}.")]
    public static partial void Connected(ILogger logger, object endpoint);

    [LoggerMessage(2002, LogLevel.Warning, "Connecting to {Endpoint} failed ({Failures} in a row): {Error}")]
    public static partial void ConnectFailed(ILogger logger, object endpoint, int failures, string error);

    [LoggerMessage(2003, LogLevel.Warning, "The connection to {Endpoint} did not answer a keepalive ping within {Timeout}; closing it.")]
    public static partial void KeepAliveTimedOut(ILogger logger, object endpoint, TimeSpan timeout);

    [LoggerMessage(2004, LogLevel.Warning, "'{Method}' has a hedging policy but is not idempotent; it is not hedged (mark it [Idempotent], or set Idempotent in its policy override).")]
    public static partial void HedgingNeedsIdempotent(ILogger logger, string method);

    [LoggerMessage(2005, LogLevel.Information, "Endpoint {Endpoint} was removed; draining its {InFlight} calls in flight.")]
    public static partial void EndpointRemoved(ILogger logger, object endpoint, int inFlight);

    [LoggerMessage(2006, LogLevel.Information, "Endpoints updated: {Count} now ({Added} added, {Removed} removed).")]
    public static partial void EndpointsUpdated(ILogger logger, int count, int added, int removed);

    [LoggerMessage(2007, LogLevel.Information,
        "The stream of '{Method}' broke; resuming after position {Position} (call {Resume} since the last item).")]
    public static partial void StreamResumed(ILogger logger, string method, string position, int resume);

    // ---- balancing and resilience -------------------------------------------------------------------------------
    [LoggerMessage(3001, LogLevel.Warning, "Ejected {Endpoint} for {Seconds:0.#} s: {Reason}.")]
    public static partial void Ejected(ILogger logger, object endpoint, double seconds, string reason);

    [LoggerMessage(3002, LogLevel.Information, "Re-admitted {Endpoint}: {Reason}.")]
    public static partial void Readmitted(ILogger logger, object endpoint, string reason);

    [LoggerMessage(3003, LogLevel.Warning, "The circuit of {Endpoint} for '{Scope}' opened: calls skip it for {Break} ms, then one probe is let through.")]
    public static partial void CircuitOpened(ILogger logger, object endpoint, string scope, int @break);

    [LoggerMessage(3004, LogLevel.Information, "The circuit of {Endpoint} for '{Scope}' closed: its probe succeeded.")]
    public static partial void CircuitClosed(ILogger logger, object endpoint, string scope);

    [LoggerMessage(3005, LogLevel.Debug, "Retrying '{Method}' in {Delay:0} ms (attempt {Attempt}) after: {Error}")]
    public static partial void Retrying(ILogger logger, string method, double delay, int attempt, string? error);

    [LoggerMessage(3006, LogLevel.Debug, "Hedging '{Method}': attempt {Attempt} starts.")]
    public static partial void Hedging(ILogger logger, string method, int attempt);

    [LoggerMessage(3007, LogLevel.Warning, "Endpoint source {Source} is stale: {Error}; its last {Count} endpoints stay in use; retry in {Retry}.")]
    public static partial void EndpointSourceStale(ILogger logger, string source, string error, int count, TimeSpan retry);

    [LoggerMessage(3008, LogLevel.Information, "Endpoint source {Source} recovered: {Count} endpoints.")]
    public static partial void EndpointSourceRecovered(ILogger logger, string source, int count);

    // ---- the shipped logging interceptors ---------------------------------------------------------------------
    [LoggerMessage(4001, LogLevel.Debug, "Served '{Method}': OK in {Milliseconds:0.0} ms.")]
    public static partial void Served(ILogger logger, string method, double milliseconds);

    [LoggerMessage(4002, LogLevel.Information, "Served '{Method}': {Status} in {Milliseconds:0.0} ms: {Message}")]
    public static partial void ServedWithError(ILogger logger, string method, string status, double milliseconds, string message);

    [LoggerMessage(4003, LogLevel.Warning, "Served '{Method}': the handler threw in {Milliseconds:0.0} ms.")]
    public static partial void ServedHandlerThrew(ILogger logger, Exception? exception, string method, double milliseconds);

    [LoggerMessage(4004, LogLevel.Debug, "Called '{Method}' on {Endpoint}: OK in {Milliseconds:0.0} ms.")]
    public static partial void Called(ILogger logger, string method, object? endpoint, double milliseconds);

    [LoggerMessage(4005, LogLevel.Information, "Called '{Method}': {Status} in {Milliseconds:0.0} ms: {Message}")]
    public static partial void CalledWithError(ILogger logger, string method, string status, double milliseconds, string message);

    [LoggerMessage(4006, LogLevel.Debug, "Attempt {Attempt} of '{Method}' failed on {Endpoint}: {Message}")]
    public static partial void AttemptFailed(ILogger logger, int attempt, string method, object? endpoint, string message);
}

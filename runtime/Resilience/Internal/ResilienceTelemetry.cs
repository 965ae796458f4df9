using System;
using Microsoft.Extensions.Logging;
using RpcGen.Telemetry;

namespace RpcGen.Resilience.Internal;

/// <summary>
/// The one place the resilience policies report to (as Polly's <c>ResilienceStrategyTelemetry</c>): each event's
/// counter, its event on the call's span and its log line, each only when something listens.
/// </summary>
internal static class ResilienceTelemetry
{
    /// <summary>A retry policy sends the call again (attempt numbers count from 1), after <paramref name="delay"/>.</summary>
    public static void Retrying(ILogger logger, string method, int attempt, TimeSpan delay, Exception? reason)
    {
        RpcGenMetrics.Add(RpcGenMetrics.Retries, method);
        RpcGenTracing.RetryEvent(attempt, delay, reason);
        if (logger.IsEnabled(LogLevel.Debug))
        {
            RpcGenLog.Retrying(logger, method, delay.TotalMilliseconds, attempt, reason?.Message);
        }
    }

    /// <summary>A hedging policy starts attempt <paramref name="attempt"/> while earlier ones run.</summary>
    public static void Hedging(ILogger logger, string method, int attempt)
    {
        RpcGenTracing.HedgeEvent(attempt);
        if (logger.IsEnabled(LogLevel.Debug))
        {
            RpcGenLog.Hedging(logger, method, attempt);
        }
    }

    /// <summary>A hedge was allowed by the deadline and the retry budget.</summary>
    public static void HedgeAllowed(string method) => RpcGenMetrics.Add(RpcGenMetrics.Hedges, method);

    /// <summary>The retry budget refused a retry or a hedge.</summary>
    public static void RetryDenied(string method) => RpcGenMetrics.Add(RpcGenMetrics.RetriesDenied, method);

    /// <summary>An endpoint's circuit for <paramref name="scope"/> opened.</summary>
    public static void CircuitOpened(ILogger? logger, string owner, object endpoint, string scope, int breakDurationMs)
    {
        RpcGenMetrics.Add(RpcGenMetrics.CircuitsOpened, scope);
        RecentEvents.Add("circuit_opened", owner, endpoint.ToString() ?? string.Empty, $"circuit for '{scope}' opened for {breakDurationMs} ms");
        if (logger is not null)
        {
            RpcGenLog.CircuitOpened(logger, endpoint, scope, breakDurationMs);
        }
    }

    /// <summary>An endpoint's circuit for <paramref name="scope"/> closed again.</summary>
    public static void CircuitClosed(ILogger? logger, string owner, object endpoint, string scope)
    {
        RecentEvents.Add("circuit_closed", owner, endpoint.ToString() ?? string.Empty, $"circuit for '{scope}' closed: its probe succeeded");
        if (logger is not null)
        {
            RpcGenLog.CircuitClosed(logger, endpoint, scope);
        }
    }
}

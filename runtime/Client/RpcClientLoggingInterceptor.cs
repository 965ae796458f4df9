using System;
using System.Diagnostics;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace RpcGen.Client;

/// <summary>
/// Logs every call a client makes: method, status and duration once per call at <see cref="LogLevel.Debug"/>
/// (<see cref="LogLevel.Information"/> when it failed), and each failed attempt that a retry, hedge or failover may
/// still fix at <see cref="LogLevel.Debug"/>. Log category <c>RpcGen.Client.Calls</c>.
/// </summary>
public sealed class RpcClientLoggingInterceptor : RpcClientInterceptor
{
    private readonly ILogger _logger;

    /// <summary>Logs through <paramref name="loggerFactory"/>.</summary>
    public RpcClientLoggingInterceptor(ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _logger = loggerFactory.CreateLogger("RpcGen.Client.Calls");
    }

    /// <inheritdoc />
    public override async ValueTask InterceptCallAsync(RpcOutgoingCall call, Func<RpcOutgoingCall, ValueTask> next)
    {
        long start = Stopwatch.GetTimestamp();
        await next(call).ConfigureAwait(false);
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        if (call.Error is null)
        {
            Telemetry.RpcGenLog.Called(_logger, call.Method.FullName, call.Endpoint, ms);
        }
        else
        {
            Telemetry.RpcGenLog.CalledWithError(_logger, call.Method.FullName, (call.Error as RpcException)?.StatusCode.ToString() ?? call.Error.GetType().Name, ms, call.Error.Message);
        }
    }

    /// <inheritdoc />
    public override async ValueTask InterceptAttemptAsync(RpcOutgoingCall call, Func<RpcOutgoingCall, ValueTask> next)
    {
        await next(call).ConfigureAwait(false);
        if (call.Error is not null && _logger.IsEnabled(LogLevel.Debug))
        {
            Telemetry.RpcGenLog.AttemptFailed(_logger, call.Attempt, call.Method.FullName, call.Endpoint, call.Error.Message);
        }
    }
}

using System;
using System.Diagnostics;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace RpcGen.Server;

/// <summary>
/// Logs every call a server serves: method, status and duration at <see cref="LogLevel.Debug"/> when it succeeded, at
/// <see cref="LogLevel.Information"/> when the handler failed with an <see cref="RpcException"/> (the caller's problem as
/// often as the server's), and at <see cref="LogLevel.Warning"/> for anything else. Log category <c>RpcGen.Server.Calls</c>.
/// </summary>
public sealed class RpcServerLoggingInterceptor : RpcServerInterceptor
{
    private readonly ILogger _logger;

    /// <summary>Logs through <paramref name="loggerFactory"/>.</summary>
    public RpcServerLoggingInterceptor(ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _logger = loggerFactory.CreateLogger("RpcGen.Server.Calls");
    }

    /// <inheritdoc />
    public override async ValueTask InterceptAsync(RpcIncomingCall call, Func<RpcIncomingCall, ValueTask> next)
    {
        long start = Stopwatch.GetTimestamp();
        await next(call).ConfigureAwait(false);
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        switch (call.Error)
        {
            case null:
                Telemetry.RpcGenLog.Served(_logger, call.Method.FullName, ms);
                break;
            case RpcException rpc:
                Telemetry.RpcGenLog.ServedWithError(_logger, call.Method.FullName, rpc.StatusCode.ToString(), ms, rpc.Message);
                break;
            default:
                Telemetry.RpcGenLog.ServedHandlerThrew(_logger, call.Error, call.Method.FullName, ms);
                break;
        }
    }
}

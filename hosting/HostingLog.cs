using System;
using Microsoft.Extensions.Logging;

namespace RpcGen.Hosting;

// RpcGen.Hosting's log messages (event ids 5xxx; docs/observability.md#logs).
internal static partial class HostingLog
{
    [LoggerMessage(5001, LogLevel.Information, "RpcGen client '{Name}' reloaded its options: {Count} endpoints.")]
    public static partial void ClientReloaded(ILogger logger, string name, int count);

    [LoggerMessage(5002, LogLevel.Error, "RpcGen client '{Name}': the reloaded options are invalid and were not applied; the client keeps its previous settings.")]
    public static partial void ClientReloadRefused(ILogger logger, Exception exception, string name);

    [LoggerMessage(5003, LogLevel.Information, "RpcGen server draining on host shutdown: {InFlight} calls in flight.")]
    public static partial void ServerDraining(ILogger logger, int inFlight);
}

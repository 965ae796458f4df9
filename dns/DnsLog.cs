using Microsoft.Extensions.Logging;

namespace RpcGen.Dns;

// RpcGen.Dns's log messages (event ids 7xxx; docs/observability.md#logs).
internal static partial class DnsLog
{
    [LoggerMessage(7001, LogLevel.Warning, "DNS discovery of {Name} failed ({Error}); the last {Count} endpoints stay in use, retrying in {Retry}.")]
    public static partial void ResolutionFailed(ILogger logger, string name, string error, int count, System.TimeSpan retry);

    [LoggerMessage(7002, LogLevel.Information, "DNS discovery of {Name} recovered: {Count} endpoints.")]
    public static partial void Recovered(ILogger logger, string name, int count);

    [LoggerMessage(7003, LogLevel.Debug, "DNS discovery of {Name}: {Count} endpoints, next resolution in {Next}.")]
    public static partial void Resolved(ILogger logger, string name, int count, System.TimeSpan next);
}

using Microsoft.Extensions.Logging;

namespace RpcGen.Dns;

// RpcGen.Dns's log messages (event ids 7xxx; docs/observability.md#logs).
internal static partial class DnsLog
{
    [LoggerMessage(7003, LogLevel.Debug, "DNS discovery of {Name}: {Count} endpoints, next resolution in {Next}.")]
    public static partial void Resolved(ILogger logger, string name, int count, System.TimeSpan next);
}

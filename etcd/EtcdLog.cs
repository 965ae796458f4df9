using System;
using Microsoft.Extensions.Logging;

namespace RpcGen.Etcd;

// RpcGen.Etcd's log messages (event ids 6xxx; docs/observability.md#logs).
internal static partial class EtcdLog
{
    [LoggerMessage(6003, LogLevel.Information, "etcd watch of '{Service}' restarts from a fresh read (compacted at {CompactRevision}; {Reason}).")]
    public static partial void WatchRestarted(ILogger logger, string service, long compactRevision, string reason);

    [LoggerMessage(6004, LogLevel.Warning, "etcd key {Key} is not an RpcGen endpoint record and is ignored: {Error}")]
    public static partial void BadRecord(ILogger logger, string key, string error);

    [LoggerMessage(6005, LogLevel.Information, "Registered {Count} endpoints of '{Service}' in etcd under lease {Lease} (TTL {Ttl} s).")]
    public static partial void Registered(ILogger logger, int count, string service, long lease, long ttl);

    [LoggerMessage(6006, LogLevel.Warning, "The etcd registration of '{Service}' was lost ({Error}); registering again.")]
    public static partial void RegistrationLost(ILogger logger, string service, string error);

    [LoggerMessage(6007, LogLevel.Information, "Deregistered '{Service}' from etcd.")]
    public static partial void Deregistered(ILogger logger, string service);

    [LoggerMessage(6008, LogLevel.Warning, "Registering '{Service}' in etcd failed: etcd at {Server}: {Error}; the server serves meanwhile and registration is retried with backoff.")]
    public static partial void RegistrationFailed(ILogger logger, string service, Uri server, string error);

    [LoggerMessage(6009, LogLevel.Warning, "The host stopped without deregistering '{Service}': {Error}")]
    public static partial void DeregistrationFailed(ILogger logger, string service, string error);
}

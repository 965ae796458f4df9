using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Balancing.Internal;

/// <summary>
/// What the <see cref="HealthMonitor"/> needs from the client it watches over, and no more: the endpoints, a way to
/// publish a new set after an ejection or re-admission, and an active ping.
/// </summary>
internal interface IHealthMonitorHost
{
    EndpointSet EndpointSet { get; }

    /// <summary>Who the monitor works for, in events (<c>client default</c>).</summary>
    string DisplayName { get; }

    bool IsDisposed { get; }

    void RebuildEndpointSet();

    /// <summary>Completes when <paramref name="endpoint"/> answers a ping; throws when it cannot be reached.</summary>
    Task PingAsync(RpcEndpointState endpoint, CancellationToken cancellationToken);
}

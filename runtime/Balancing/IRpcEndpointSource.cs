using System;
using System.Collections.Generic;

namespace RpcGen.Balancing;

/// <summary>
/// A feed of endpoints that can change while the client runs (a static list, a service registry, a DNS name…). The
/// client applies each list as a whole: new endpoints are added (with slow start), missing ones are removed and drained
/// (their calls in flight finish; no new ones are sent), and changed metadata (weight, zone) takes effect at once.
/// </summary>
public interface IRpcEndpointSource
{
    /// <summary>The source's name, for logs.</summary>
    string Name { get; }

    /// <summary>
    /// Calls <paramref name="onChange"/> with the current list (at once when the source has one, else when its first
    /// resolution ends: this method must not wait for it), then with the whole new list after each change, until the
    /// returned subscription is disposed. Calls are not concurrent. Until the first list comes, a client's calls wait
    /// for it, each within its deadline.
    /// </summary>
    IDisposable Subscribe(Action<IReadOnlyList<RpcEndpoint>> onChange);

    /// <summary>
    /// As <see cref="Subscribe(Action{IReadOnlyList{RpcEndpoint}})"/>, and also calls <paramref name="onError"/> with
    /// each failed resolution before the first list, so that a client's calls fail at once with the reason
    /// (<c>Unavailable</c>) instead of waiting for their deadlines. By default the errors are not reported.
    /// </summary>
    IDisposable Subscribe(Action<IReadOnlyList<RpcEndpoint>> onChange, Action<Exception> onError) => Subscribe(onChange);
}

/// <summary>
/// A source that can fall behind its registry (etcd unreachable, DNS failing): it then keeps serving the last known
/// endpoints and says so here. RpcGen reports it as the <c>rpcgen.client.discovery.stale</c> gauge and in
/// RpcGen.Hosting's client health check (degraded).
/// </summary>
public interface IRpcEndpointSourceStatus
{
    /// <summary>True while the source cannot reach its registry and serves its last known endpoints.</summary>
    bool IsStale { get; }

    /// <summary>Why the last resolution failed; null after a success.</summary>
    Exception? LastError => null;
}

using System;
using System.Collections.Generic;
using System.Threading;

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
    /// Calls <paramref name="onChange"/> with the current list at once, then with the whole new list after each change,
    /// until the returned subscription is disposed. Calls are not concurrent.
    /// </summary>
    IDisposable Subscribe(Action<IReadOnlyList<RpcEndpoint>> onChange);
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
}

/// <summary>An endpoint list held in memory; <see cref="Update"/> replaces it and tells subscribers.</summary>
public sealed class StaticEndpointSource : IRpcEndpointSource
{
    private readonly object _lock = new();
    private readonly List<Action<IReadOnlyList<RpcEndpoint>>> _subscribers = new();
    private RpcEndpoint[] _endpoints;

    /// <summary>Starts with <paramref name="endpoints"/>.</summary>
    public StaticEndpointSource(IEnumerable<RpcEndpoint> endpoints) => _endpoints = new List<RpcEndpoint>(endpoints).ToArray();

    /// <inheritdoc />
    public string Name => "static";

    /// <summary>The current list.</summary>
    public IReadOnlyList<RpcEndpoint> Endpoints => Volatile.Read(ref _endpoints);

    /// <summary>Replaces the list and tells every subscriber.</summary>
    public void Update(IEnumerable<RpcEndpoint> endpoints)
    {
        lock (_lock)
        {
            _endpoints = new List<RpcEndpoint>(endpoints).ToArray();
            foreach (Action<IReadOnlyList<RpcEndpoint>> subscriber in _subscribers)
            {
                subscriber(_endpoints);
            }
        }
    }

    /// <inheritdoc />
    public IDisposable Subscribe(Action<IReadOnlyList<RpcEndpoint>> onChange)
    {
        lock (_lock)
        {
            _subscribers.Add(onChange);
            onChange(_endpoints);
        }

        return new Subscription(this, onChange);
    }

    private sealed class Subscription : IDisposable
    {
        private readonly StaticEndpointSource _source;
        private readonly Action<IReadOnlyList<RpcEndpoint>> _onChange;

        public Subscription(StaticEndpointSource source, Action<IReadOnlyList<RpcEndpoint>> onChange)
        {
            _source = source;
            _onChange = onChange;
        }

        public void Dispose()
        {
            lock (_source._lock)
            {
                _source._subscribers.Remove(_onChange);
            }
        }
    }
}

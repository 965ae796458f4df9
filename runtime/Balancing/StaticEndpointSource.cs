using System;
using System.Collections.Generic;
using System.Threading;

namespace RpcGen.Balancing;

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

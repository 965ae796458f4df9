using System;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.ServiceDiscovery;
using RpcGen.Balancing;

namespace RpcGen.Hosting;

/// <summary>
/// Endpoints from Microsoft.Extensions.ServiceDiscovery (.NET Aspire's service discovery), as an
/// <see cref="IRpcEndpointSource"/>: whatever providers the application registered (configuration such as
/// <c>"Services:calc:rpc:0": "10.0.0.5:7000"</c>, DNS, a provider of your own) answer the query, and each change
/// they signal is applied live. The first subscriber waits for the first answer (so a client starts with its
/// endpoints); later answers come in the background. A failed refresh keeps the last set.
/// </summary>
public sealed class ServiceDiscoveryEndpointSource : IRpcEndpointSource, IRpcEndpointSourceStatus, IAsyncDisposable
{
    private readonly ServiceEndpointResolver _resolver;
    private readonly string _query;
    private readonly StaticEndpointSource _current = new(Array.Empty<RpcEndpoint>());
    private readonly CancellationTokenSource _stop = new();
    private readonly object _lock = new();
    private Task? _loop;

    /// <summary>
    /// A source for <paramref name="query"/>: <c>rpc://calc</c> reads the <c>rpc</c> endpoints of the service
    /// <c>calc</c> (<c>Services:calc:rpc</c> in configuration); <c>calc</c> its default ones.
    /// </summary>
    public ServiceDiscoveryEndpointSource(ServiceEndpointResolver resolver, string query)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        ArgumentException.ThrowIfNullOrEmpty(query);
        _resolver = resolver;
        _query = query;
    }

    /// <inheritdoc />
    public string Name => "service-discovery:" + _query;

    /// <summary>The endpoints known now.</summary>
    public IReadOnlyList<RpcEndpoint> Endpoints => _current.Endpoints;

    /// <summary>True after a refresh failed and until one succeeds: <see cref="Endpoints"/> is the last good set.</summary>
    public bool IsStale { get; private set; }

    /// <inheritdoc />
    public IDisposable Subscribe(Action<IReadOnlyList<RpcEndpoint>> onChange)
    {
        lock (_lock)
        {
            if (_loop is null)
            {
                // The first answer before the first subscriber hears anything: a client must not start on nothing.
                ServiceEndpointSource first = _resolver.GetEndpointsAsync(_query, _stop.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
                Publish(first);
                _loop = Task.Run(() => FollowAsync(first.ChangeToken));
            }
        }

        return _current.Subscribe(onChange);
    }

    private async Task FollowAsync(Microsoft.Extensions.Primitives.IChangeToken change)
    {
        CancellationToken stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (change.RegisterChangeCallback(static state => ((TaskCompletionSource)state!).TrySetResult(), changed))
            using (stop.Register(static state => ((TaskCompletionSource)state!).TrySetCanceled(), changed))
            {
                try
                {
                    await changed.Task.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            try
            {
                ServiceEndpointSource next = await _resolver.GetEndpointsAsync(_query, stop).ConfigureAwait(false);
                Publish(next);
                change = next.ChangeToken;
                IsStale = false;
            }
            catch (Exception) when (!stop.IsCancellationRequested)
            {
                IsStale = true; // keep the last set; the resolver signals again on its next refresh
                await Task.Delay(TimeSpan.FromSeconds(1), stop).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
                change = new Microsoft.Extensions.Primitives.CancellationChangeToken(new CancellationToken(canceled: true));
            }
        }
    }

    private void Publish(ServiceEndpointSource source)
    {
        var endpoints = new List<RpcEndpoint>(source.Endpoints.Count);
        foreach (ServiceEndpoint endpoint in source.Endpoints)
        {
            switch (endpoint.EndPoint)
            {
                case IPEndPoint ip:
                    endpoints.Add(new RpcEndpoint(ip.Address.ToString(), ip.Port));
                    break;
                case DnsEndPoint dns:
                    endpoints.Add(new RpcEndpoint(dns.Host, dns.Port));
                    break;
                case UriEndPoint { Uri: { Port: > 0 } uri }:
                    endpoints.Add(new RpcEndpoint(uri.Host, uri.Port));
                    break;
            }
        }

        _current.Update(endpoints);
    }

    /// <summary>Stops following changes; the last list stays with the subscribers.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        _stop.Cancel();
        if (_loop is { } loop)
        {
            await loop.ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}

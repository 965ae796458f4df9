using System;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.ServiceDiscovery;
using Microsoft.Extensions.Logging;
using RpcGen.Balancing;

namespace RpcGen.Hosting;

/// <summary>
/// Endpoints from Microsoft.Extensions.ServiceDiscovery (.NET Aspire's service discovery), as an
/// <see cref="IRpcEndpointSource"/>: whatever providers the application registered (configuration such as
/// <c>"Services:calc:rpc:0": "10.0.0.5:7000"</c>, DNS, a provider of your own) answer the query, and each change
/// they signal is applied live. A failed answer keeps the last set and is asked again after one second.
/// </summary>
public sealed class ServiceDiscoveryEndpointSource : RpcEndpointSource
{
    private readonly ServiceEndpointResolver _resolver;
    private readonly string _query;

    /// <summary>
    /// A source for <paramref name="query"/>: <c>rpc://calc</c> reads the <c>rpc</c> endpoints of the service
    /// <c>calc</c> (<c>Services:calc:rpc</c> in configuration); <c>calc</c> its default ones.
    /// </summary>
    public ServiceDiscoveryEndpointSource(ServiceEndpointResolver resolver, string query, ILogger? logger = null)
        : base("service-discovery:" + query, TimeSpan.FromSeconds(1), logger)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        ArgumentException.ThrowIfNullOrEmpty(query);
        _resolver = resolver;
        _query = query;
    }

    /// <inheritdoc />
    protected override async Task ResolveAsync(CancellationToken cancellationToken)
    {
        ServiceEndpointSource answer = await _resolver.GetEndpointsAsync(_query, cancellationToken).ConfigureAwait(false);
        PublishAnswer(answer);

        // The providers signal their next change (a configuration reload, a DNS refresh) on the token: ask again then.
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (answer.ChangeToken.RegisterChangeCallback(static state => ((TaskCompletionSource)state!).TrySetResult(), changed))
        {
            await changed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void PublishAnswer(ServiceEndpointSource source)
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

        Publish(endpoints);
    }
}

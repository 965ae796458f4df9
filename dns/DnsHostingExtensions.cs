using System;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RpcGen.Hosting;

namespace RpcGen.Dns;

/// <summary>DNS discovery for clients registered with RpcGen.Hosting's <c>AddRpcClient</c>.</summary>
public static class DnsHostingExtensions
{
    /// <summary>
    /// Takes this client's endpoints from DNS: the A/AAAA or SRV records of <see cref="DnsDiscoveryOptions.Name"/>,
    /// resolved again on their TTL (<see cref="DnsEndpointSource"/>, through <see cref="RpcClientBuilder.UseEndpointSource"/>).
    /// Endpoints in <c>RpcGen:Clients:{name}</c> are then not needed.
    /// </summary>
    public static RpcClientBuilder UseDns(this RpcClientBuilder builder, Action<DnsDiscoveryOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        return builder.UseEndpointSource(provider =>
        {
            var dns = new DnsDiscoveryOptions();
            configure(dns);
            return new DnsEndpointSource(dns, provider.GetService<ILoggerFactory>()?.CreateLogger("RpcGen.Dns"), provider.GetService<TimeProvider>());
        });
    }
}

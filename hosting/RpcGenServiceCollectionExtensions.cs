using System;
using System.Linq;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RpcGen.Admin;
using RpcGen.Client;
using RpcGen.Descriptors;
using RpcGen.Hosting;
using RpcGen.Server;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers RpcGen clients and the hosted RpcGen server in a service collection.</summary>
public static class RpcGenServiceCollectionExtensions
{
    /// <summary>
    /// Makes <typeparamref name="TService"/> (an <c>[RpcService]</c> interface) resolvable as its generated proxy, on
    /// the client named after the service (its <c>[RpcService]</c> name), whose options are bound from
    /// <c>RpcGen:Clients:{name}</c> and then changed by <paramref name="configure"/>.
    /// </summary>
    public static RpcClientBuilder AddRpcClient<TService>(this IServiceCollection services, Action<RpcClientOptions> configure)
        where TService : class =>
        services.AddRpcClient<TService>(RpcServiceRegistry.GetRequiredDescriptor<TService>().Name, configure);

    /// <summary>
    /// Makes <typeparamref name="TService"/> resolvable as its generated proxy on the client named after the service,
    /// configured from <c>RpcGen:Clients:{name}</c> only.
    /// </summary>
    public static RpcClientBuilder AddRpcClient<TService>(this IServiceCollection services)
        where TService : class =>
        services.AddRpcClient<TService>(RpcServiceRegistry.GetRequiredDescriptor<TService>().Name, null);

    /// <summary>Makes <typeparamref name="TService"/> resolvable on the client named <paramref name="name"/>, configured from <c>RpcGen:Clients:{name}</c>.</summary>
    public static RpcClientBuilder AddRpcClient<TService>(this IServiceCollection services, string name)
        where TService : class =>
        services.AddRpcClient<TService>(name, null);

    /// <summary>
    /// Makes <typeparamref name="TService"/> resolvable as its generated proxy on the client named
    /// <paramref name="name"/>. Interfaces registered under one name share that client: one <see cref="RpcClient"/>,
    /// one connection per endpoint, one set of health and balancing state. Options come from configuration
    /// (<c>RpcGen:Clients:{name}</c>, reloaded live), then from <paramref name="configure"/>; they are validated when
    /// the host starts, with messages that name the key.
    /// </summary>
    public static RpcClientBuilder AddRpcClient<TService>(this IServiceCollection services, string name, Action<RpcClientOptions>? configure)
        where TService : class
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        RpcServiceRegistry.GetRequiredDescriptor<TService>(); // a clear error now, not at the first resolution
        services.AddOptions();
        services.TryAddSingleton<ClientOptionsState>();
        services.TryAddSingleton(static provider => new RpcClientFactory(provider,
            provider.GetRequiredService<IOptionsMonitor<RpcClientOptions>>(), provider.GetRequiredService<IOptionsFactory<RpcClientOptions>>(),
            provider.GetRequiredService<IOptionsMonitor<RpcClientRegistration>>(), provider.GetRequiredService<ClientOptionsState>(),
            provider.GetService<Logging.ILoggerFactory>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<RpcClientOptions>, ConfigureClientOptions>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RpcClientOptions>, ValidateClientOptions>());
        if (!services.Any(d => d.ServiceType == typeof(ClientName) && d.ImplementationInstance is ClientName known && known.Name == name))
        {
            services.AddSingleton(new ClientName(name));
            services.AddSingleton<IOptionsChangeTokenSource<RpcClientOptions>>(provider => new ClientOptionsChangeTokenSource(provider, name));
            services.AddOptions<RpcClientOptions>(name).ValidateOnStart();
        }

        if (configure is not null)
        {
            services.AddOptions<RpcClientOptions>(name).Configure(configure);
        }

        // The proxy is cached by its client, so resolving it again is a dictionary lookup.
        services.AddTransient(provider => provider.GetRequiredService<RpcClientFactory>().CreateProxy<TService>(name));
        return new RpcClientBuilder(services, name);
    }

    /// <summary>
    /// Adds the RpcGen server as a hosted service: it starts with the host and, when the host stops, drains (refuses new
    /// calls as not processed, lets calls in flight finish) within the host's shutdown timeout. Options come from
    /// <c>RpcGen:Server</c>, then the code given to <c>AddRpcServer(configure)</c> or
    /// <see cref="RpcServerBuilder.ConfigureOptions"/>; map services with
    /// <see cref="RpcServerBuilder.MapService{TService, TImplementation}"/>.
    /// </summary>
    public static RpcServerBuilder AddRpcServer(this IServiceCollection services) => services.AddRpcServer(null);

    /// <inheritdoc cref="AddRpcServer(IServiceCollection)"/>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Changes the server's options in code, after configuration was applied.</param>
    public static RpcServerBuilder AddRpcServer(this IServiceCollection services, Action<RpcServerOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions();
        if (!services.Any(d => d.ServiceType == typeof(RpcServerHost)))
        {
            services.AddSingleton<RpcServerHost>();
            services.AddHostedService(static provider => provider.GetRequiredService<RpcServerHost>());
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<RpcServerOptions>, ConfigureServerOptions>());
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RpcServerOptions>, ValidateServerOptions>());
            services.AddOptions<RpcServerOptions>().ValidateOnStart();
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }

        return new RpcServerBuilder(services);
    }

    /// <summary>
    /// Serves RpcGen's admin page (docs/admin.md) on its own port for the host's lifetime (<see cref="RpcAdminHost"/>):
    /// on 127.0.0.1 unless <c>AllowRemote</c> (which needs an <c>AccessToken</c>). Options come from the
    /// <c>RpcGen:Admin</c> configuration section, then <paramref name="configure"/>. A web app maps the same page with
    /// RpcGen.AspNetCore's <c>MapRpcGenAdmin()</c> instead.
    /// </summary>
    public static IServiceCollection AddRpcAdmin(this IServiceCollection services, Action<RpcAdminOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<RpcAdminOptions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<RpcAdminOptions>, ConfigureAdminOptions>());
        if (configure is not null)
        {
            services.Configure(configure);
        }

        if (!services.Any(d => d.ServiceType == typeof(RpcAdminHost)))
        {
            services.AddSingleton<RpcAdminHost>();
            services.AddHostedService(static provider => provider.GetRequiredService<RpcAdminHost>());
        }

        return services;
    }

    /// <summary>The name of a registered client (so health checks and start-up validation know every name).</summary>
    internal sealed record ClientName(string Name);
}

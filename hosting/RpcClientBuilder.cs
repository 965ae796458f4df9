using System;
using System.Diagnostics.CodeAnalysis;
using System.Linq;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RpcGen.Balancing;
using RpcGen.Client;

namespace RpcGen.Hosting;

/// <summary>
/// Configures one named RpcGen client registered by <c>AddRpcClient</c>: its options, interceptors and credentials.
/// Every interface registered under the same name shares this client (one <see cref="RpcClient"/>, one connection
/// per endpoint).
/// </summary>
public sealed class RpcClientBuilder
{
    internal RpcClientBuilder(IServiceCollection services, string name)
    {
        Services = services;
        Name = name;
    }

    /// <summary>The client's name: its options are <c>IOptionsMonitor&lt;RpcClientOptions&gt;.Get(Name)</c>, bound from <c>RpcGen:Clients:{Name}</c>.</summary>
    public string Name { get; }

    /// <summary>The service collection the client is registered in.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Changes the client's options in code, after configuration was applied (and again on every reload).</summary>
    public RpcClientBuilder ConfigureOptions(Action<RpcClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.AddOptions<RpcClientOptions>(Name).Configure(configure);
        return this;
    }

    /// <summary>Changes the client's options in code with services from DI (after configuration, and on every reload).</summary>
    public RpcClientBuilder ConfigureOptions(Action<RpcClientOptions, IServiceProvider> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.AddOptions<RpcClientOptions>(Name).Configure<IServiceProvider>(configure);
        return this;
    }

    /// <summary>
    /// Runs <typeparamref name="TInterceptor"/> around this client's calls (after interceptors added before it), one
    /// instance from DI (registered as a singleton when it is not registered yet).
    /// </summary>
    public RpcClientBuilder AddInterceptor<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TInterceptor>() where TInterceptor : RpcClientInterceptor
    {
        Services.TryAddSingleton<TInterceptor>();
        return AddInterceptor(static provider => provider.GetRequiredService<TInterceptor>());
    }

    /// <summary>Runs the interceptor <paramref name="create"/> returns around this client's calls.</summary>
    public RpcClientBuilder AddInterceptor(Func<IServiceProvider, RpcClientInterceptor> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        Services.Configure<RpcClientRegistration>(Name, registration => registration.Interceptors.Add(create));
        return this;
    }

    /// <summary>Sends the credentials <paramref name="create"/> returns with every attempt of this client (a bearer token…).</summary>
    public RpcClientBuilder AddCredentials(Func<IServiceProvider, RpcCallCredentials> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        Services.Configure<RpcClientRegistration>(Name, registration => registration.Credentials = create);
        return this;
    }

    /// <summary>
    /// Takes this client's endpoints from the source <paramref name="create"/> makes (one per client, made when the client
    /// is; it belongs to the client and is disposed with it). Endpoints in <c>RpcGen:Clients:{name}</c> are then not
    /// needed. Nothing waits for the source when the client is created: its first calls wait for the first list, each
    /// within its deadline. <c>UseEtcd</c>, <c>UseDns</c> and <see cref="UseServiceDiscovery"/> are this with their source.
    /// </summary>
    public RpcClientBuilder UseEndpointSource(Func<IServiceProvider, IRpcEndpointSource> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        Services.Configure<RpcClientRegistration>(Name, static registration => registration.OwnsEndpointSource = true);
        Services.AddOptions<RpcClientOptions>(Name).Configure<IServiceProvider>((options, provider) => options.EndpointSource ??= create(provider));
        return this;
    }

    /// <summary>
    /// Takes this client's endpoints from Microsoft.Extensions.ServiceDiscovery (registers it with its configuration
    /// provider when it is not registered yet): <paramref name="query"/> such as <c>rpc://calc</c> reads
    /// <c>Services:calc:rpc</c> and follows its changes (<see cref="ServiceDiscoveryEndpointSource"/>, through
    /// <see cref="UseEndpointSource"/>).
    /// </summary>
    public RpcClientBuilder UseServiceDiscovery(string query)
    {
        ArgumentException.ThrowIfNullOrEmpty(query);
        if (!Services.Any(static d => d.ServiceType == typeof(Microsoft.Extensions.ServiceDiscovery.ServiceEndpointResolver)))
        {
            Services.AddServiceDiscovery();
        }

        return UseEndpointSource(provider => new ServiceDiscoveryEndpointSource(
            provider.GetRequiredService<Microsoft.Extensions.ServiceDiscovery.ServiceEndpointResolver>(), query, provider.GetService<Microsoft.Extensions.Logging.ILoggerFactory>()?.CreateLogger("RpcGen.Hosting")));
    }

    /// <summary>Makes <typeparamref name="TOther"/> resolvable too, on this same client.</summary>
    public RpcClientBuilder AddService<TOther>() where TOther : class
    {
        Services.AddRpcClient<TOther>(Name);
        return this;
    }
}

/// <summary>What DI adds to a named client besides its options (interceptors and credentials), gathered per name.</summary>
internal sealed class RpcClientRegistration
{
    public System.Collections.Generic.List<Func<IServiceProvider, RpcClientInterceptor>> Interceptors { get; } = new();

    public Func<IServiceProvider, RpcCallCredentials>? Credentials { get; set; }

    /// <summary>True when <c>UseEndpointSource</c> made the client's source: the client's factory disposes it with the client.</summary>
    public bool OwnsEndpointSource { get; set; }
}

using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RpcGen.Descriptors;
using RpcGen.Server;

namespace RpcGen.Hosting;

/// <summary>Maps services onto the hosted RpcGen server and adds its interceptors and authenticator from DI.</summary>
public sealed class RpcServerBuilder
{
    internal RpcServerBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection the server is registered in.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Serves <typeparamref name="TService"/> with <typeparamref name="TImplementation"/> from DI. With
    /// <see cref="ServiceLifetime.Scoped"/> (the default) or <see cref="ServiceLifetime.Transient"/>, each call gets
    /// its own DI scope, the implementation is resolved from it, and the scope is disposed when the call has ended (its
    /// response sent), as ASP.NET Core does per request; with <see cref="ServiceLifetime.Singleton"/> one instance
    /// serves every call. The implementation is registered with that lifetime unless it is registered already.
    /// </summary>
    public RpcServerBuilder MapService<TService, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TImplementation>(ServiceLifetime lifetime = ServiceLifetime.Scoped)
        where TService : class
        where TImplementation : class, TService
    {
        RpcServiceRegistry.GetRequiredDescriptor<TService>(); // a clear error at registration, not at start
        Services.TryAdd(new ServiceDescriptor(typeof(TImplementation), typeof(TImplementation), lifetime));
        Services.Configure<RpcServerRegistration>(registration => registration.Mappings.Add((server, provider) =>
            server.Map(lifetime == ServiceLifetime.Singleton
                ? RpcServiceActivator<TService>.Singleton(provider.GetRequiredService<TImplementation>())
                : new ScopedActivator<TService, TImplementation>(provider.GetRequiredService<IServiceScopeFactory>()))));
        return this;
    }

    /// <summary>
    /// Runs <typeparamref name="TInterceptor"/> around every call the server serves (after interceptors added before
    /// it), one instance from DI (registered as a singleton when it is not registered yet).
    /// </summary>
    public RpcServerBuilder AddInterceptor<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TInterceptor>() where TInterceptor : RpcServerInterceptor
    {
        Services.TryAddSingleton<TInterceptor>();
        Services.Configure<RpcServerRegistration>(registration => registration.Interceptors.Add(static provider => provider.GetRequiredService<TInterceptor>()));
        return this;
    }

    /// <summary>Identifies callers with <typeparamref name="TAuthenticator"/> from DI (<see cref="RpcServerOptions.Authenticator"/>).</summary>
    public RpcServerBuilder AddAuthenticator<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TAuthenticator>() where TAuthenticator : class, IRpcAuthenticator
    {
        Services.TryAddSingleton<TAuthenticator>();
        Services.Configure<RpcServerRegistration>(registration => registration.Authenticator = static provider => provider.GetRequiredService<TAuthenticator>());
        return this;
    }

    /// <summary>
    /// Adds a deduplication store by name, created from DI when the server's options are built and disposed with the
    /// container; configuration chooses it by that name (<c>RpcGen:Server:Deduplication:Store</c>, or per service
    /// <c>…:Stores:&lt;service&gt;</c>). For example
    /// <c>AddDeduplicationStore("sqlite", _ =&gt; new SqliteDeduplicationStore(new() { Path = "data/dedup.db" }))</c>.
    /// </summary>
    public RpcServerBuilder AddDeduplicationStore(string name, Func<IServiceProvider, Server.Deduplication.IDeduplicationStore> create)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(create);
        Services.AddSingleton(new NamedDeduplicationStore(name, create));
        Services.TryAddEnumerable(
            ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IConfigureOptions<RpcServerOptions>, AddNamedDeduplicationStores>());
        return this;
    }

    /// <summary>Changes the server's options in code, after configuration was applied.</summary>
    public RpcServerBuilder ConfigureOptions(Action<RpcServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(configure);
        return this;
    }
}

/// <summary>A store added by name: created on first use from DI, disposed with the container.</summary>
internal sealed class NamedDeduplicationStore : IAsyncDisposable
{
    private readonly Func<IServiceProvider, RpcGen.Server.Deduplication.IDeduplicationStore> _create;
    private readonly object _lock = new();
    private Server.Deduplication.IDeduplicationStore? _store;

    public NamedDeduplicationStore(string name, Func<IServiceProvider, Server.Deduplication.IDeduplicationStore> create)
    {
        Name = name;
        _create = create;
    }

    public string Name { get; }

    public Server.Deduplication.IDeduplicationStore Get(IServiceProvider services)
    {
        lock (_lock)
        {
            return _store ??= _create(services);
        }
    }

    public ValueTask DisposeAsync() => _store?.DisposeAsync() ?? default;
}

/// <summary>Puts the stores added by name into the server's options, where configuration's names find them.</summary>
internal sealed class AddNamedDeduplicationStores : Microsoft.Extensions.Options.IConfigureOptions<RpcServerOptions>
{
    private readonly IServiceProvider _services;
    private readonly IEnumerable<NamedDeduplicationStore> _stores;

    public AddNamedDeduplicationStores(IServiceProvider services, IEnumerable<NamedDeduplicationStore> stores)
    {
        _services = services;
        _stores = stores;
    }

    public void Configure(RpcServerOptions options)
    {
        foreach (NamedDeduplicationStore store in _stores)
        {
            options.Deduplication.NamedStores[store.Name] = store.Get(_services);
        }
    }
}

/// <summary>What DI adds to the server besides its options.</summary>
internal sealed class RpcServerRegistration
{
    public List<Action<RpcServer, IServiceProvider>> Mappings { get; } = new();

    public List<Func<IServiceProvider, RpcServerInterceptor>> Interceptors { get; } = new();

    public Func<IServiceProvider, IRpcAuthenticator>? Authenticator { get; set; }
}

/// <summary>One DI scope per call: the implementation comes from it, and it is disposed once the call has ended.</summary>
internal sealed class ScopedActivator<TService, TImplementation> : RpcServiceActivator<TService>
    where TService : class
    where TImplementation : class, TService
{
    private readonly IServiceScopeFactory _scopes;

    public ScopedActivator(IServiceScopeFactory scopes) => _scopes = scopes;

    protected override TService Activate(RpcCallContext context)
    {
        AsyncServiceScope scope = _scopes.CreateAsyncScope();
        context.RegisterForDisposeAsync(scope);
        return scope.ServiceProvider.GetRequiredService<TImplementation>();
    }
}

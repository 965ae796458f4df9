using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RpcGen.Balancing;
using RpcGen.Client;

namespace RpcGen.Hosting;

/// <summary>
/// The named clients of a service provider: one <see cref="RpcClient"/> per name, created on first use from
/// <c>IOptionsMonitor&lt;RpcClientOptions&gt;.Get(name)</c> and the interceptors and credentials registered for it,
/// kept for the provider's life and disposed with it. A reload of the options applies the new endpoints (added,
/// removed with their calls drained, weights changed) and the new policy and strategy overrides to the running client
/// without dropping a call in flight; a reload that fails validation is logged and changes nothing.
/// </summary>
public sealed class RpcClientFactory : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Entry>> _clients = new(StringComparer.Ordinal);
    private readonly IServiceProvider _services;
    private readonly IOptionsFactory<RpcClientOptions> _optionsFactory;
    private readonly ClientOptionsState _state;
    private readonly IOptionsMonitor<RpcClientRegistration> _registrations;
    private readonly ILogger _logger;
    private readonly IDisposable? _onChange;
    private int _disposed;

    internal RpcClientFactory(IServiceProvider services, IOptionsMonitor<RpcClientOptions> options, IOptionsFactory<RpcClientOptions> optionsFactory,
        IOptionsMonitor<RpcClientRegistration> registrations, ClientOptionsState state, ILoggerFactory? loggerFactory = null)
    {
        _services = services;
        _optionsFactory = optionsFactory;
        _state = state;
        _registrations = registrations;
        _logger = loggerFactory?.CreateLogger("RpcGen.Hosting") ?? NullLogger.Instance;
        _onChange = options.OnChange(Reload);
    }

    /// <summary>The client named <paramref name="name"/> (created on first use).</summary>
    /// <exception cref="OptionsValidationException">Its options are invalid; the message names the key.</exception>
    public RpcClient GetClient(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _clients.GetOrAdd(name, static (n, factory) => new Lazy<Entry>(() => factory.Create(n)), this).Value.Client;
    }

    /// <summary>The proxy of <typeparamref name="TService"/> on the client named <paramref name="name"/>.</summary>
    public TService CreateProxy<TService>(string name) where TService : class => GetClient(name).CreateProxy<TService>();

    private Entry Create(string name)
    {
        // A private instance (the factory runs configuration, code and validation again), so what the client is given
        // below never shows in IOptionsMonitor's cached options.
        RpcClientOptions options = _optionsFactory.Create(name);
        _state.ThrowIfInvalid(options, name);
        RpcClientRegistration registration = _registrations.Get(name);
        options.Name ??= name;
        StaticEndpointSource? endpoints = null;
        if (options.EndpointSource is null)
        {
            // Endpoints from configuration go through a source the factory updates on reload.
            endpoints = new StaticEndpointSource(options.Endpoints);
            options.EndpointSource = endpoints;
        }

        foreach (Func<IServiceProvider, RpcClientInterceptor> interceptor in registration.Interceptors)
        {
            options.Interceptors.Add(interceptor(_services));
        }

        if (registration.Credentials is { } credentials)
        {
            options.Credentials = credentials(_services);
        }

        (options.LoggerFactory, options.TimeProvider) = HostServices.Fill(_services, options.LoggerFactory, options.TimeProvider);
        IAsyncDisposable? owned = registration.OwnsEndpointSource ? options.EndpointSource as IAsyncDisposable : null;
        return new Entry(new RpcClient(options), endpoints, owned);
    }

    private void Reload(RpcClientOptions options, string? name)
    {
        name ??= Options.DefaultName;
        if (!_clients.TryGetValue(name, out Lazy<Entry>? lazy) || !lazy.IsValueCreated)
        {
            return; // not created yet: it will read the new options when it is
        }

        Entry entry = lazy.Value;
        try
        {
            _state.ThrowIfInvalid(options, name);
            entry.Client.UpdatePolicies(options.Resilience, options.Balancing);
            entry.Endpoints?.Update(options.Endpoints);
            HostingLog.ClientReloaded(_logger, name, options.Endpoints.Count);
        }
        catch (Exception ex) when (ex is ArgumentException or OptionsValidationException or InvalidOperationException)
        {
            HostingLog.ClientReloadRefused(_logger, ex, name);
        }
    }

    /// <summary>Disposes every client (their connections close; calls in flight fail with Unavailable).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _onChange?.Dispose();
        foreach (Lazy<Entry> lazy in _clients.Values)
        {
            if (lazy.IsValueCreated)
            {
                await lazy.Value.Client.DisposeAsync().ConfigureAwait(false);
                if (lazy.Value.OwnedSource is { } source)
                {
                    await source.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>The clients created so far, by name (for health checks).</summary>
    internal IEnumerable<KeyValuePair<string, RpcClient>> Created
    {
        get
        {
            foreach (KeyValuePair<string, Lazy<Entry>> pair in _clients)
            {
                if (pair.Value.IsValueCreated)
                {
                    yield return new KeyValuePair<string, RpcClient>(pair.Key, pair.Value.Value.Client);
                }
            }
        }
    }

    private sealed record Entry(RpcClient Client, StaticEndpointSource? Endpoints, IAsyncDisposable? OwnedSource);
}

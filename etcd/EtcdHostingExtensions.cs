using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RpcGen.Balancing;
using RpcGen.Hosting;
using RpcGen.Server;

namespace RpcGen.Etcd;

/// <summary>What a hosted server registers in etcd, and where.</summary>
public sealed class EtcdRegistrationOptions
{
    /// <summary>Where etcd is and the registry's prefix.</summary>
    public EtcdOptions Etcd { get; } = new();

    /// <summary>The lease's time to live (how long a killed server stays visible). The default value is 5 seconds.</summary>
    public TimeSpan TimeToLive { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The host clients connect to, instead of the address the server listens on (needed when it listens on 0.0.0.0,
    /// or behind NAT): the pod IP, the machine's name. The default value is none: the listen addresses.
    /// </summary>
    public string? AdvertisedHost { get; set; }

    /// <summary>The weight, zone, priority and tags registered with each endpoint.</summary>
    public int Weight { get; set; } = 100;

    /// <inheritdoc cref="RpcEndpoint.Zone"/>
    public string? Zone { get; set; }

    /// <inheritdoc cref="RpcEndpoint.Priority"/>
    public int Priority { get; set; }

    /// <summary>The server's version, registered for clients and operators to read.</summary>
    public string? Version { get; set; }
}

/// <summary>etcd registration and discovery in the generic host (RpcGen.Hosting).</summary>
public static class EtcdHostingExtensions
{
    /// <summary>
    /// Registers the hosted server's endpoints in etcd as <paramref name="service"/> once it listens, keeps the lease
    /// alive, and deregisters when the host stops, before the server drains (hosted services stop in reverse order,
    /// and this one is added after the server). When etcd cannot be reached at start the host starts anyway and the
    /// registration is retried with backoff; the health check <c>rpcgen-etcd-registration-{service}</c> (tag
    /// <c>rpcgen</c>) is Degraded, saying why, until it succeeds.
    /// </summary>
    public static RpcServerBuilder AddEtcdRegistration(this RpcServerBuilder builder, string service, Action<EtcdRegistrationOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(service);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new EtcdRegistrationOptions();
        configure(options);
        options.Etcd.Validate();
        var host = new RegistrationHolder();
        builder.Services.AddSingleton<IHostedService>(provider => host.Host = new EtcdRegistrationHost(
            provider.GetRequiredService<RpcServerHost>(), service, options, provider.GetService<ILoggerFactory>()?.CreateLogger("RpcGen.Etcd")));
        // Health: Degraded while the server serves but is not (yet, or no longer) in etcd, with why.
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            "rpcgen-etcd-registration-" + service, _ => new RegistrationHealthCheck(host, service), HealthStatus.Degraded, new[] { "rpcgen" }));
        return builder;
    }

    private sealed class RegistrationHolder
    {
        public EtcdRegistrationHost? Host;
    }

    private sealed class RegistrationHealthCheck : IHealthCheck
    {
        private readonly RegistrationHolder _holder;
        private readonly string _service;

        public RegistrationHealthCheck(RegistrationHolder holder, string service) => (_holder, _service) = (holder, service);

        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            EtcdRegistration? registration = _holder.Host?.Registration;
            return Task.FromResult(registration switch
            {
                null => HealthCheckResult.Degraded($"'{_service}' is not registered in etcd: the server has not started."),
                { IsRegistered: true } => HealthCheckResult.Healthy($"'{_service}' is registered in etcd under lease {registration.Lease}."),
                _ => HealthCheckResult.Degraded($"'{_service}' is not registered in etcd: {registration.LastError ?? "registering"}; retrying."),
            });
        }
    }

    /// <summary>
    /// Takes this client's endpoints from etcd: <paramref name="service"/>'s registrations, watched live
    /// (<see cref="EtcdEndpointSource"/>, through <see cref="RpcClientBuilder.UseEndpointSource"/>). Endpoints in
    /// <c>RpcGen:Clients:{name}</c> are then not needed.
    /// </summary>
    public static RpcClientBuilder UseEtcd(this RpcClientBuilder builder, string service, Action<EtcdOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(service);
        ArgumentNullException.ThrowIfNull(configure);
        return builder.UseEndpointSource(provider =>
        {
            var etcd = new EtcdOptions();
            configure(etcd);
            return new EtcdEndpointSource(etcd, service, provider.GetService<ILoggerFactory>()?.CreateLogger("RpcGen.Etcd"));
        });
    }

    private sealed class EtcdRegistrationHost : IHostedService, IAsyncDisposable
    {
        private readonly RpcServerHost _server;
        private readonly string _service;
        private readonly EtcdRegistrationOptions _options;
        private readonly ILogger? _logger;
        private EtcdRegistration? _registration;

        public EtcdRegistration? Registration => Volatile.Read(ref _registration);

        public EtcdRegistrationHost(RpcServerHost server, string service, EtcdRegistrationOptions options, ILogger? logger)
        {
            _server = server;
            _service = service;
            _options = options;
            _logger = logger;
        }

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            RpcServer server = _server.Server ?? throw new InvalidOperationException("AddEtcdRegistration needs the RpcGen server to start first: call it on the builder AddRpcServer returned.");
            IEnumerable<RpcEndpoint> endpoints = server.Endpoints.Select(e => new RpcEndpoint(_options.AdvertisedHost ?? e.Host, e.Port)
            {
                Weight = _options.Weight,
                Zone = _options.Zone,
                Priority = _options.Priority,
            });
            _registration = await EtcdRegistration.RegisterAsync(_options.Etcd, _service, endpoints, _options.TimeToLive, _options.Version,
                tls: server.Options.Tls is not null, logger: _logger, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _registration, null) is { } registration)
            {
                try
                {
                    await registration.DeregisterAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (RpcGen.RpcException ex)
                {
                    // etcd is down: the host still stops; the lease expires on its own within its TTL.
                    EtcdLog.DeregistrationFailed(_logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, _service, ex.Message);
                }
                finally
                {
                    await registration.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _registration, null) is { } registration)
            {
                await registration.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RpcGen.Balancing;
using RpcGen.Client;
using RpcGen.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Health checks for the hosted RpcGen server and the registered RpcGen clients.</summary>
public static class RpcGenHealthCheckBuilderExtensions
{
    /// <summary>The tag of the server's readiness check (<c>ready</c>), for a readiness endpoint's predicate.</summary>
    public const string ReadyTag = "ready";

    /// <summary>
    /// Adds <c>rpcgen-server</c> (tag <see cref="ReadyTag"/>; when a server is registered): healthy while it accepts
    /// calls, unhealthy before it started and while it drains, so a load balancer or orchestrator stops sending it
    /// traffic before it goes away; and <c>rpcgen-clients</c>: healthy when every endpoint of every client created so
    /// far is admitted, degraded when some are ejected or its discovery is stale, unhealthy when a client has every endpoint ejected (or none).
    /// </summary>
    public static IHealthChecksBuilder AddRpcHealthChecks(this IHealthChecksBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Decided when the health-check options are built, so AddRpcServer may come before or after this call.
        builder.Services.AddSingleton<Options.IConfigureOptions<HealthCheckServiceOptions>, AddServerCheck>();

        builder.Add(new HealthCheckRegistration("rpcgen-clients", static provider => new ClientsHealthCheck(provider.GetService<RpcClientFactory>()),
            HealthStatus.Unhealthy, new[] { "rpcgen" }));
        return builder;
    }

    private sealed class AddServerCheck : Options.IConfigureOptions<HealthCheckServiceOptions>
    {
        private readonly IServiceProviderIsService _services;

        public AddServerCheck(IServiceProviderIsService services) => _services = services;

        public void Configure(HealthCheckServiceOptions options)
        {
            if (_services.IsService(typeof(RpcServerHost)) && !options.Registrations.Any(r => r.Name == "rpcgen-server"))
            {
                options.Registrations.Add(new HealthCheckRegistration("rpcgen-server", static provider => new ServerHealthCheck(provider.GetRequiredService<RpcServerHost>()),
                    HealthStatus.Unhealthy, new[] { ReadyTag }));
                options.Registrations.Add(new HealthCheckRegistration("rpcgen-deduplication",
                    static provider => new DeduplicationHealthCheck(provider.GetRequiredService<RpcServerHost>()),
                    HealthStatus.Unhealthy, new[] { "rpcgen" }));
            }
        }
    }

    private sealed class ServerHealthCheck : IHealthCheck
    {
        private readonly RpcServerHost _host;

        public ServerHealthCheck(RpcServerHost host) => _host = host;

        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            HealthCheckResult result = _host.Server switch
            {
                null => HealthCheckResult.Unhealthy("The RpcGen server has not started."),
                { IsStopped: true } server => HealthCheckResult.Unhealthy($"The RpcGen server is draining ({server.InFlight} calls in flight) or stopped.",
                    data: new Dictionary<string, object> { ["inFlight"] = server.InFlight }),
                { } server => HealthCheckResult.Healthy($"The RpcGen server is serving on {string.Join(", ", server.Endpoints)}.",
                    new Dictionary<string, object> { ["inFlight"] = server.InFlight }),
            };
            return Task.FromResult(result);
        }
    }

    /// <summary>
    /// Each deduplication store the server uses, as it reports itself: unhealthy when one does not answer (its
    /// deduplicated calls are refused as not processed), degraded when one is full. Not a readiness check: the server's
    /// other calls go on.
    /// </summary>
    private sealed class DeduplicationHealthCheck : IHealthCheck
    {
        private readonly RpcServerHost _host;

        public DeduplicationHealthCheck(RpcServerHost host) => _host = host;

        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (_host.Server is not { } server)
            {
                return HealthCheckResult.Healthy("The RpcGen server has not started: no deduplication store in use yet.");
            }

            var data = new Dictionary<string, object>();
            var worst = HealthStatus.Healthy;
            var problems = new List<string>();
            foreach (RpcGen.Server.Deduplication.IDeduplicationStore store in server.DeduplicationStores)
            {
                RpcGen.Server.Deduplication.DeduplicationStoreStatus status;
                try
                {
                    status = await store.GetStatusAsync(cancellationToken).AsTask()
                        .WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    status = new RpcGen.Server.Deduplication.DeduplicationStoreStatus(
                        RpcGen.Server.Deduplication.DeduplicationStoreHealth.Unhealthy, $"does not answer: {ex.Message}", -1, 0, -1, 0, 0);
                }

                data[store.Name] = $"{status.Health}: {status.Description} ({status.Entries} of {status.Capacity} entries)";
                HealthStatus health = status.Health switch
                {
                    RpcGen.Server.Deduplication.DeduplicationStoreHealth.Healthy => HealthStatus.Healthy,
                    RpcGen.Server.Deduplication.DeduplicationStoreHealth.Degraded => HealthStatus.Degraded,
                    _ => HealthStatus.Unhealthy,
                };
                if (health < worst)
                {
                    worst = health;
                }

                if (health != HealthStatus.Healthy)
                {
                    problems.Add($"{store.Name}: {status.Description}");
                }
            }

            string description = problems.Count == 0
                ? $"{data.Count} deduplication store(s) answer."
                : "Deduplication stores: " + string.Join("; ", problems);
            return new HealthCheckResult(worst, description, data: data);
        }
    }

    private sealed class ClientsHealthCheck : IHealthCheck
    {
        private readonly RpcClientFactory? _clients;

        public ClientsHealthCheck(RpcClientFactory? clients) => _clients = clients;

        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var data = new Dictionary<string, object>();
            var unhealthy = new List<string>();
            var degraded = new List<string>();
            foreach (KeyValuePair<string, RpcClient> client in _clients?.Created ?? Enumerable.Empty<KeyValuePair<string, RpcClient>>())
            {
                IReadOnlyList<RpcEndpointState> endpoints = client.Value.Endpoints;
                int ejected = endpoints.Count(e => e.IsEjected);
                data[client.Key] = $"{endpoints.Count - ejected} of {endpoints.Count} endpoints admitted";
                bool stale = client.Value.Options.EndpointSource is IRpcEndpointSourceStatus { IsStale: true };
                if (stale)
                {
                    data[client.Key] += $"; discovery stale ({client.Value.Options.EndpointSource!.Name}: serving the last known endpoints)";
                }

                if (endpoints.Count == 0 || ejected == endpoints.Count)
                {
                    unhealthy.Add(client.Key);
                }
                else if (ejected > 0 || stale)
                {
                    degraded.Add(client.Key);
                }
            }

            HealthCheckResult result = unhealthy.Count > 0
                ? HealthCheckResult.Unhealthy($"RpcGen clients with no admitted endpoint: {string.Join(", ", unhealthy)}.", data: data)
                : degraded.Count > 0
                    ? HealthCheckResult.Degraded($"RpcGen clients with ejected endpoints or stale discovery: {string.Join(", ", degraded)}.", data: data)
                    : HealthCheckResult.Healthy("Every endpoint of every RpcGen client is admitted.", data);
            return Task.FromResult(result);
        }
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using DnsClient;
using DnsClient.Protocol;
using Microsoft.Extensions.Logging;
using RpcGen.Balancing;

namespace RpcGen.Dns;

/// <summary>
/// A service's endpoints from DNS, as an <see cref="IRpcEndpointSource"/>. With A/AAAA records every address is an
/// endpoint on <see cref="DnsDiscoveryOptions.Port"/>; with SRV records every target is one, with the record's port,
/// priority (RpcGen's priority groups: the lowest value is the primary group) and weight (0 counts as 1, since RpcGen
/// sends nothing to weight 0). The name is resolved again when the shortest TTL of the answer runs out, but not sooner
/// than <see cref="DnsDiscoveryOptions.MinRefresh"/> nor later than <see cref="DnsDiscoveryOptions.MaxRefresh"/>. A
/// failed resolution (timeout, SERVFAIL, NXDOMAIN, an empty answer) keeps the last good set:
/// <see cref="RpcEndpointSource.IsStale"/>.
/// </summary>
public sealed class DnsEndpointSource : RpcEndpointSource
{
    private readonly DnsDiscoveryOptions _options;
    private readonly LookupClient _dns;

    /// <summary>
    /// A source of the endpoints <see cref="DnsDiscoveryOptions.Name"/> stands for. Resolving starts with the first
    /// subscriber (a client, when it is created) or <see cref="RpcEndpointSource.WaitForEndpointsAsync"/>; a failed
    /// resolution is tried again after <see cref="DnsDiscoveryOptions.MinRefresh"/>.
    /// </summary>
    public DnsEndpointSource(DnsDiscoveryOptions options, ILogger? logger = null, TimeProvider? timeProvider = null)
        : base("dns:" + Validated(options).Name, options.MinRefresh, logger, timeProvider)
    {
        _options = options;
        var lookup = options.NameServers.Count > 0
            ? new LookupClientOptions(options.NameServers.Select(static s => new NameServer(s)).ToArray())
            : new LookupClientOptions();
        lookup.UseCache = false; // the TTLs decide when to ask again, here
        lookup.Timeout = options.Timeout;
        lookup.Retries = 0; // Timeout is one query's deadline, as documented: a silent server costs one Timeout, not two
        lookup.ThrowDnsErrors = false;
        lookup.ContinueOnDnsError = false;
        _dns = new LookupClient(lookup);
    }

    private static DnsDiscoveryOptions Validated(DnsDiscoveryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options;
    }

    /// <inheritdoc />
    protected override async Task ResolveAsync(CancellationToken cancellationToken)
    {
        (IReadOnlyList<RpcEndpoint> endpoints, TimeSpan ttl) = await ResolveOnceAsync(cancellationToken).ConfigureAwait(false);
        Publish(endpoints);
        TimeSpan next = Clamp(ttl);
        DnsLog.Resolved(Logger, _options.Name, endpoints.Count, next);
        await Task.Delay(next, TimeProvider, cancellationToken).ConfigureAwait(false);
    }

    private TimeSpan Clamp(TimeSpan ttl) => ttl < _options.MinRefresh ? _options.MinRefresh : ttl > _options.MaxRefresh ? _options.MaxRefresh : ttl;

    /// <summary>The endpoints the name stands for now, and the shortest TTL of the records that said so.</summary>
    private async Task<(IReadOnlyList<RpcEndpoint> Endpoints, TimeSpan Ttl)> ResolveOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await ResolveCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DnsResponseException ex)
        {
            // DnsClient's own type (a timeout, an unreachable name server) becomes the documented one, with the reason.
            throw new InvalidOperationException($"resolving {_options.Name} failed: {ex.Message} ({ex.Code}; name servers: {NameServers})", ex);
        }
    }

    private string NameServers => _options.NameServers.Count > 0 ? string.Join(", ", _options.NameServers) : "the machine's";

    private async Task<(IReadOnlyList<RpcEndpoint> Endpoints, TimeSpan Ttl)> ResolveCoreAsync(CancellationToken cancellationToken)
    {
        // A and AAAA are asked at once, so a silent name server costs one Timeout, not one per record type.
        Task<IDnsQueryResponse> query = _dns.QueryAsync(_options.Name, _options.Srv ? QueryType.SRV : QueryType.A, QueryClass.IN, cancellationToken);
        Task<IDnsQueryResponse>? v6Query = _options.Srv ? null : _dns.QueryAsync(_options.Name, QueryType.AAAA, QueryClass.IN, cancellationToken);
        IDnsQueryResponse response;
        try
        {
            response = await query.ConfigureAwait(false);
        }
        finally
        {
            if (v6Query is not null)
            {
                // Observed either way: a failed A query must not leave the AAAA query's exception unobserved.
                try
                {
                    await v6Query.ConfigureAwait(false);
                }
                catch (DnsResponseException)
                {
                }
            }
        }

        Check(response);
        var endpoints = new List<RpcEndpoint>();
        int ttl = int.MaxValue;
        if (_options.Srv)
        {
            foreach (SrvRecord srv in response.Answers.SrvRecords())
            {
                ttl = Math.Min(ttl, srv.InitialTimeToLive);
                string target = srv.Target.Value.TrimEnd('.');
                // Addresses the server sent along (the usual case), else the target's name for the connection to resolve.
                var addresses = response.Additionals.OfType<AddressRecord>().Where(a => a.DomainName.Value.TrimEnd('.') == target).ToList();
                foreach (string host in addresses.Count > 0 ? addresses.Select(static a => a.Address.ToString()) : new[] { target })
                {
                    endpoints.Add(new RpcEndpoint(host, srv.Port) { Priority = srv.Priority, Weight = Math.Max(1, (int)srv.Weight) });
                }
            }
        }
        else
        {
            IDnsQueryResponse? v6 = v6Query!.IsCompletedSuccessfully ? v6Query.Result : null; // a failed AAAA query: A records alone
            foreach (AddressRecord record in response.Answers.ARecords().Cast<AddressRecord>().Concat(v6 is null || v6.HasError ? Enumerable.Empty<AddressRecord>() : v6.Answers.AaaaRecords()))
            {
                ttl = Math.Min(ttl, record.InitialTimeToLive);
                endpoints.Add(new RpcEndpoint(record.Address.ToString(), _options.Port));
            }
        }

        if (endpoints.Count == 0)
        {
            throw new InvalidOperationException($"{_options.Name} has no {(_options.Srv ? "SRV" : "A/AAAA")} records.");
        }

        return (endpoints, TimeSpan.FromSeconds(ttl));
    }

    private void Check(IDnsQueryResponse response)
    {
        if (response.HasError)
        {
            throw new InvalidOperationException($"resolving {_options.Name} failed: {response.ErrorMessage}");
        }
    }
}

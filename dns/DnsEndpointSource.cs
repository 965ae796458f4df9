using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using DnsClient;
using DnsClient.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RpcGen.Balancing;

namespace RpcGen.Dns;

/// <summary>
/// A service's endpoints from DNS, as an <see cref="IRpcEndpointSource"/>. With A/AAAA records every address is an
/// endpoint on <see cref="DnsDiscoveryOptions.Port"/>; with SRV records every target is one, with the record's port,
/// priority (RpcGen's priority groups: the lowest value is the primary group) and weight (0 counts as 1, since RpcGen
/// sends nothing to weight 0). The name is resolved again when the shortest TTL of the answer runs out, but not sooner
/// than <see cref="DnsDiscoveryOptions.MinRefresh"/> nor later than <see cref="DnsDiscoveryOptions.MaxRefresh"/>. A
/// failed resolution (timeout, SERVFAIL, NXDOMAIN, an empty answer) keeps the last good set: <see cref="IsStale"/>.
/// </summary>
public sealed class DnsEndpointSource : IRpcEndpointSource, IRpcEndpointSourceStatus, IAsyncDisposable
{
    private readonly DnsDiscoveryOptions _options;
    private readonly LookupClient _dns;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly StaticEndpointSource _current = new(Array.Empty<RpcEndpoint>());
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private volatile bool _stale;

    private DnsEndpointSource(DnsDiscoveryOptions options, ILogger? logger, TimeProvider? time)
    {
        options.Validate();
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
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

    /// <summary>
    /// Resolves the name once (throwing an <see cref="InvalidOperationException"/> that says why when that fails: a
    /// client should not start on nothing), then keeps the set fresh in the background.
    /// </summary>
    public static async Task<DnsEndpointSource> StartAsync(DnsDiscoveryOptions options, ILogger? logger = null, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var source = new DnsEndpointSource(options, logger, time);
        (IReadOnlyList<RpcEndpoint> endpoints, TimeSpan ttl) = await source.ResolveAsync(cancellationToken).ConfigureAwait(false);
        source._current.Update(endpoints);
        source._loop = Task.Run(() => source.RunAsync(source.Clamp(ttl)));
        return source;
    }

    /// <inheritdoc />
    public string Name => "dns:" + _options.Name;

    /// <summary>The endpoints known now.</summary>
    public IReadOnlyList<RpcEndpoint> Endpoints => _current.Endpoints;

    /// <summary>True while resolutions fail: <see cref="Endpoints"/> is the last good set.</summary>
    public bool IsStale => _stale;

    /// <inheritdoc />
    public IDisposable Subscribe(Action<IReadOnlyList<RpcEndpoint>> onChange) => _current.Subscribe(onChange);

    private async Task RunAsync(TimeSpan wait)
    {
        CancellationToken stop = _stop.Token;
        while (true)
        {
            try
            {
                await Task.Delay(wait, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                (IReadOnlyList<RpcEndpoint> endpoints, TimeSpan ttl) = await ResolveAsync(stop).ConfigureAwait(false);
                if (!SameSet(endpoints, _current.Endpoints))
                {
                    _current.Update(endpoints);
                }

                if (_stale)
                {
                    _stale = false;
                    DnsLog.Recovered(_logger, _options.Name, endpoints.Count);
                }

                wait = Clamp(ttl);
                DnsLog.Resolved(_logger, _options.Name, endpoints.Count, wait);
            }
            catch (Exception ex) when (!stop.IsCancellationRequested)
            {
                wait = _options.MinRefresh;
                if (!_stale)
                {
                    _stale = true;
                    DnsLog.ResolutionFailed(_logger, _options.Name, ex.Message, _current.Endpoints.Count, wait);
                }
            }
        }
    }

    private TimeSpan Clamp(TimeSpan ttl) => ttl < _options.MinRefresh ? _options.MinRefresh : ttl > _options.MaxRefresh ? _options.MaxRefresh : ttl;

    /// <summary>The endpoints the name stands for now, and the shortest TTL of the records that said so.</summary>
    private async Task<(IReadOnlyList<RpcEndpoint> Endpoints, TimeSpan Ttl)> ResolveAsync(CancellationToken cancellationToken)
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

        endpoints.Sort(static (a, b) => string.CompareOrdinal(a.ToString(), b.ToString()));
        return (endpoints, TimeSpan.FromSeconds(ttl));
    }

    private void Check(IDnsQueryResponse response)
    {
        if (response.HasError)
        {
            throw new InvalidOperationException($"resolving {_options.Name} failed: {response.ErrorMessage}");
        }
    }

    /// <summary>True when both lists hold the same endpoints with the same metadata (no update then: nothing to drain or warm up).</summary>
    private static bool SameSet(IReadOnlyList<RpcEndpoint> a, IReadOnlyList<RpcEndpoint> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (int i = 0; i < a.Count; i++)
        {
            if (!a[i].Equals(b[i]) || a[i].Priority != b[i].Priority || a[i].Weight != b[i].Weight)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Stops resolving; the last list stays with the subscribers.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        _stop.Cancel();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The loop ends with the cancellation.
        }

        _stop.Dispose();
    }
}

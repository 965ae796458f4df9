using System;
using System.Collections.Generic;
using System.Net;

namespace RpcGen.Dns;

/// <summary>Which records name a service's servers, and how often to look again.</summary>
public sealed class DnsDiscoveryOptions
{
    /// <summary>
    /// The name to resolve: an SRV name (<c>_rpc._tcp.calc.default.svc.cluster.local</c>) with <see cref="Srv"/>, or a host
    /// name whose A/AAAA records list the servers (a Kubernetes headless service: <c>calc.default.svc.cluster.local</c>).
    /// </summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>True to read SRV records (each target with its port, priority and weight); false for A/AAAA records and <see cref="Port"/>.</summary>
    public bool Srv { get; set; }

    /// <summary>The servers' port with A/AAAA records (SRV records carry their own).</summary>
    public int Port { get; set; }

    /// <summary>The name servers to ask; empty (the default) uses the machine's resolvers.</summary>
    public IList<IPEndPoint> NameServers { get; } = new List<IPEndPoint>();

    /// <summary>The shortest time between two resolutions, whatever the TTL says (and the retry interval after a failure). The default value is 1 second.</summary>
    public TimeSpan MinRefresh { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest time between two resolutions, whatever the TTL says. The default value is 60 seconds.</summary>
    public TimeSpan MaxRefresh { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The deadline of one query; each question is asked once (no retry), A and AAAA at the same time, so a name server
    /// that does not answer costs one Timeout per resolution. The default value is 2 seconds.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            throw new ArgumentException("DnsDiscoveryOptions.Name is empty: give the SRV name or the host name of the service.", nameof(Name));
        }

        if (!Srv && Port is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "DnsDiscoveryOptions.Port is needed with A/AAAA records (1-65535); SRV records carry their own.");
        }

        if (MinRefresh <= TimeSpan.Zero || MaxRefresh < MinRefresh || Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(MinRefresh), "DnsDiscoveryOptions: MinRefresh and Timeout must be positive and MaxRefresh at least MinRefresh.");
        }
    }
}

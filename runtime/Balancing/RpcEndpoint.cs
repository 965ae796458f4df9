using System;
using System.Globalization;
using System.Net;

namespace RpcGen.Balancing;

/// <summary>Where a server listens: a TCP host and port, or a server in this process.</summary>
public sealed class RpcEndpoint : IEquatable<RpcEndpoint>
{
    /// <summary>A TCP endpoint.</summary>
    public RpcEndpoint(string host, int port)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        if (port is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(port), port, "A port is between 1 and 65535.");
        }

        Host = host;
        Port = port;
    }

    private RpcEndpoint(string inProcessName)
    {
        Host = inProcessName;
        Port = 0;
        IsInProcess = true;
    }

    /// <summary>The host name or IP address.</summary>
    public string Host { get; }

    /// <summary>The TCP port; 0 for an in-process endpoint.</summary>
    public int Port { get; }

    /// <summary>
    /// The endpoint's share of calls relative to the others under weighted and load-aware strategies. The default value
    /// is 100; 0 takes no new calls.
    /// </summary>
    public int Weight
    {
        get => _weight;
        init => _weight = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(Weight), value, "A weight is 0 or more.");
    }

    /// <summary>
    /// The endpoint's priority group: 0 is the primary group, 1 the first backup, and so on. Calls go to the
    /// lowest-numbered group while enough of it is healthy and spill to the next as its health drops
    /// (<see cref="LoadBalancingOptions.PriorityOverprovisioningFactor"/>). The default value is 0.
    /// </summary>
    public int Priority
    {
        get => _priority;
        init => _priority = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(Priority), value, "A priority is 0 (primary) or more (backups).");
    }

    private readonly int _priority;

    /// <summary>The zone (rack, availability zone, data centre) the server runs in, for locality-aware balancing.</summary>
    public string? Zone { get; init; }

    /// <summary>Free-form labels, for custom balancers and logs.</summary>
    public System.Collections.Generic.IReadOnlyDictionary<string, string> Tags { get; init; } = s_emptyTags;

    private static readonly System.Collections.Generic.IReadOnlyDictionary<string, string> s_emptyTags =
        new System.Collections.Generic.Dictionary<string, string>();

    private readonly int _weight = 100;

    /// <summary>The same address with other metadata.</summary>
    public RpcEndpoint With(int? weight = null, string? zone = null, int? priority = null) =>
        IsInProcess
            ? new RpcEndpoint(Host) { Weight = weight ?? Weight, Zone = zone ?? Zone, Tags = Tags, Priority = priority ?? Priority }
            : new RpcEndpoint(Host, Port) { Weight = weight ?? Weight, Zone = zone ?? Zone, Tags = Tags, Priority = priority ?? Priority };

    /// <summary>An in-process endpoint: <see cref="Host"/> is the name its server listens under in this process.</summary>
    internal bool IsInProcess { get; }

    /// <summary>Parses <c>host:port</c> or <c>[ipv6]:port</c>.</summary>
    public static RpcEndpoint Parse(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1 ||
            !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port))
        {
            throw new FormatException($"'{text}' is not an endpoint: write host:port, for example 127.0.0.1:5000.");
        }

        string host = text.Substring(0, colon);
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host.Substring(1, host.Length - 2);
        }

        return new RpcEndpoint(host, port);
    }

    /// <summary>The endpoint of a bound socket.</summary>
    public static RpcEndpoint FromIPEndPoint(IPEndPoint endPoint) => new(endPoint.Address.ToString(), endPoint.Port);

    internal static RpcEndpoint ForInProcess(string name) => new(name);

    /// <summary>Endpoints are equal when their addresses are; weight, zone and tags are metadata.</summary>
    public bool Equals(RpcEndpoint? other) =>
        other is not null &&
        Port == other.Port &&
        string.Equals(Host, other.Host, StringComparison.OrdinalIgnoreCase) &&
        IsInProcess == other.IsInProcess;

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as RpcEndpoint);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(StringComparer.OrdinalIgnoreCase.GetHashCode(Host), Port);

    /// <inheritdoc />
    public override string ToString() =>
        IsInProcess ? $"inproc:{Host}" :
        Host.Contains(':') ? $"[{Host}]:{Port.ToString(CultureInfo.InvariantCulture)}" :
        $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";
}

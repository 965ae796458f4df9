using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Serialization;
using RpcGen.Balancing;

namespace RpcGen.Etcd;

/// <summary>
/// The value of one registry key: a server endpoint as JSON, for example
/// <c>{"address":"10.0.0.5","port":7000,"weight":100,"zone":"eu-1a","priority":0,"tags":{},"version":"1.4.2","tls":false}</c>.
/// </summary>
public sealed class EtcdEndpointRecord
{
    /// <summary>The host name or IP address clients connect to.</summary>
    public string Address { get; set; } = string.Empty;

    /// <summary>The TCP port.</summary>
    public int Port { get; set; }

    /// <summary>The endpoint's weight (default 100).</summary>
    public int Weight { get; set; } = 100;

    /// <summary>The endpoint's zone, or null.</summary>
    public string? Zone { get; set; }

    /// <summary>The endpoint's priority group (0 primary).</summary>
    public int Priority { get; set; }

    /// <summary>Free-form tags.</summary>
    public Dictionary<string, string>? Tags { get; set; }

    /// <summary>The server's version, informational (also added to the tags as <c>version</c>).</summary>
    public string? Version { get; set; }

    /// <summary>True when the server speaks TLS (also added to the tags as <c>tls</c> = <c>true</c>).</summary>
    public bool Tls { get; set; }

    /// <summary>The record of <paramref name="endpoint"/>.</summary>
    public static EtcdEndpointRecord From(RpcEndpoint endpoint, string? version = null, bool tls = false) => new()
    {
        Address = endpoint.Host,
        Port = endpoint.Port,
        Weight = endpoint.Weight,
        Zone = endpoint.Zone,
        Priority = endpoint.Priority,
        Tags = endpoint.Tags.Count == 0 ? null : new Dictionary<string, string>(endpoint.Tags),
        Version = version,
        Tls = tls,
    };

    /// <summary>The endpoint this record describes.</summary>
    public RpcEndpoint ToEndpoint()
    {
        var tags = Tags is null ? new Dictionary<string, string>() : new Dictionary<string, string>(Tags);
        if (Version is not null)
        {
            tags["version"] = Version;
        }

        if (Tls)
        {
            tags["tls"] = "true";
        }

        return new RpcEndpoint(Address, Port) { Weight = Weight, Zone = Zone, Priority = Priority, Tags = tags };
    }

    internal string ToJson() => JsonSerializer.Serialize(this, EtcdJsonContext.Default.EtcdEndpointRecord);

    /// <summary>Reads a record; null (and <paramref name="error"/>) when the value is not one.</summary>
    internal static RpcEndpoint? TryParse(ReadOnlySpan<byte> json, out string? error)
    {
        try
        {
            EtcdEndpointRecord? record = JsonSerializer.Deserialize(json, EtcdJsonContext.Default.EtcdEndpointRecord);
            error = null;
            return record is null ? null : record.ToEndpoint();
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException)
        {
            error = ex.Message;
            return null;
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(EtcdEndpointRecord))]
internal sealed partial class EtcdJsonContext : JsonSerializerContext
{
}

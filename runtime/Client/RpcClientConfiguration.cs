using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using RpcGen.Balancing;
using RpcGen.Resilience;

namespace RpcGen.Client;

/// <summary>
/// Reads client settings from configuration (appsettings.json, environment variables…), so endpoints, strategies and
/// resilience settings change without recompiling. The sections <c>Connection</c>, <c>Balancing</c> and
/// <c>Resilience</c> are bound by Microsoft.Extensions.Configuration.Binder's source generator (no reflection, safe under
/// Native AOT) onto <see cref="ConnectionOptions"/>, <see cref="LoadBalancingOptions"/> and
/// <see cref="ResilienceOptions"/>; <c>Endpoints</c> also takes the <c>"host:port"</c> shorthand. An unknown key, an
/// invalid value, or a key of the old flat layout throws an <see cref="ArgumentException"/> naming the key, so a typo
/// never passes silently.
/// </summary>
public static class RpcClientConfiguration
{
    /// <summary>Durations: .NET's TimeSpan format ("00:00:05"); a bare number other than 0 would be read as days.</summary>
    internal static readonly string[] DurationKeys =
    {
        "Connection:ConnectTimeout", "Connection:ReconnectBackoff", "Connection:MaxReconnectBackoff",
        "Connection:KeepAliveInterval", "Connection:KeepAliveTimeout",
        "Balancing:PeakEwmaDecay", "Balancing:OutlierDetection:BaseEjectionTime", "Balancing:OutlierDetection:MaxEjectionTime",
        "Balancing:OutlierDetection:Interval", "Balancing:OutlierDetection:SuccessRateInterval", "Balancing:SlowStart:Window",
        "Resilience:DefaultTimeout", "Resilience:RetryBudget:Window",
    };

    /// <summary>Keys of the flat layout before the options were grouped, and where each went.</summary>
    private static readonly Dictionary<string, string> s_moved = new(StringComparer.OrdinalIgnoreCase)
    {
        ["MaxFrameSize"] = "Connection:MaxFrameSize",
        ["ConnectTimeout"] = "Connection:ConnectTimeout",
        ["ReconnectBackoff"] = "Connection:ReconnectBackoff",
        ["MaxReconnectBackoff"] = "Connection:MaxReconnectBackoff",
        ["KeepAliveInterval"] = "Connection:KeepAliveInterval",
        ["KeepAliveTimeout"] = "Connection:KeepAliveTimeout",
        ["LoadBalancing"] = "Balancing:Strategies",
        ["Zone"] = "Balancing:Zone",
        ["ConsistentHashLoadFactor"] = "Balancing:ConsistentHashLoadFactor",
        ["PeakEwmaDecay"] = "Balancing:PeakEwmaDecay",
        ["OutlierDetection"] = "Balancing:OutlierDetection",
        ["SlowStart"] = "Balancing:SlowStart",
        ["DefaultTimeout"] = "Resilience:DefaultTimeout",
        ["Policies"] = "Resilience:Policies",
        ["RetryBudget"] = "Resilience:RetryBudget",
    };

    /// <summary>
    /// Applies <paramref name="section"/> (for example <c>configuration.GetSection("RpcGen")</c>) to
    /// <paramref name="options"/>. See docs/configuration.md for the keys.
    /// </summary>
    public static RpcClientOptions ApplyConfiguration(this RpcClientOptions options, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(section);
        CheckValues(section);
        foreach (IConfigurationSection child in section.GetChildren())
        {
            switch (child.Key)
            {
                case "Endpoints":
                    options.Endpoints.Clear();
                    foreach (IConfigurationSection endpoint in child.GetChildren())
                    {
                        options.Endpoints.Add(ReadEndpoint(endpoint));
                    }

                    break;
                case "Connection":
                    Bind(child, options.Connection);
                    break;
                case "Balancing":
                    Bind(child, options.Balancing);
                    break;
                case "Resilience":
                    Bind(child, options.Resilience);
                    ValidatePolicies(child.GetSection("Policies"), options.Resilience);
                    break;
                default:
                    if (s_moved.TryGetValue(child.Key, out string? moved))
                    {
                        throw new ArgumentException(
                            $"RpcGen configuration '{child.Path}': '{child.Key}' moved to '{moved}' when the client options were grouped into Connection, Balancing and Resilience (docs/configuration.md).");
                    }

                    throw new ArgumentException($"RpcGen configuration '{child.Path}': unknown setting '{child.Key}'; known settings here: Endpoints, Connection, Balancing, Resilience.");
            }
        }

        return options;
    }

    // Intercepted at compile time by the binder's source generator (EnableConfigurationBindingGenerator): no reflection.
    private static void Bind(IConfigurationSection section, ConnectionOptions target) =>
        Guard(section, () => section.Bind(target, static o => o.ErrorOnUnknownConfiguration = true));

    private static void Bind(IConfigurationSection section, LoadBalancingOptions target) =>
        Guard(section, () => section.Bind(target, static o => o.ErrorOnUnknownConfiguration = true));

    private static void Bind(IConfigurationSection section, ResilienceOptions target) =>
        Guard(section, () => section.Bind(target, static o => o.ErrorOnUnknownConfiguration = true));

    /// <summary>The binder names the key of a bad value and the type of an unknown one; both become errors that name the section.</summary>
    private static void Guard(IConfigurationSection section, Action bind)
    {
        try
        {
            bind();
        }
        catch (InvalidOperationException ex)
        {
            throw new ArgumentException($"RpcGen configuration '{section.Path}': {ex.Message}", ex);
        }
    }

    /// <summary>What the binder would accept but mean something else: bare numbers for durations (days) and for strategies.</summary>
    private static void CheckValues(IConfiguration section)
    {
        string prefix = section is IConfigurationSection s ? s.Path + ":" : string.Empty;
        foreach (KeyValuePair<string, string?> entry in section.AsEnumerable(makePathsRelative: true))
        {
            if (entry.Value is not { Length: > 0 } value)
            {
                continue;
            }

            bool number = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed);
            if (number && parsed != 0 && Array.Exists(DurationKeys, k => string.Equals(k, entry.Key, StringComparison.OrdinalIgnoreCase)))
            {
                throw new ArgumentException(
                    $"RpcGen configuration '{prefix}{entry.Key}': '{value}' is a bare number, which .NET reads as {value} days; write a duration such as \"00:00:05\" or \"00:00:00.250\".");
            }

            if (number && entry.Key.StartsWith("Balancing:Strategies:", StringComparison.OrdinalIgnoreCase))
            {
                throw new ArgumentException(
                    $"RpcGen configuration '{prefix}{entry.Key}': '{value}' is not a load-balancing strategy; use one of {string.Join(", ", Enum.GetNames<LoadBalanceStrategy>())}.");
            }
        }
    }

    /// <summary>Checks each policy read from configuration, naming its key.</summary>
    private static void ValidatePolicies(IConfigurationSection policies, ResilienceOptions options)
    {
        foreach (IConfigurationSection entry in policies.GetChildren())
        {
            if (!options.Policies.TryGetValue(entry.Key, out RpcPolicyOverride? policy))
            {
                continue;
            }

            if (policy.TimeoutMs < 0)
            {
                throw new ArgumentException($"RpcGen configuration '{entry.Path}:TimeoutMs': {policy.TimeoutMs} must be 0 (no deadline) or more.");
            }

            policy.Retry?.Validate($"RpcGen configuration '{entry.Path}:Retry'");
            policy.Hedging?.Validate($"RpcGen configuration '{entry.Path}:Hedging'");
            policy.CircuitBreaker?.Validate($"RpcGen configuration '{entry.Path}:CircuitBreaker'");
        }
    }

    /// <summary>"host:port", or an object with Address, Weight, Zone and Tags.</summary>
    private static RpcEndpoint ReadEndpoint(IConfigurationSection section)
    {
        if (section.Value is { } text)
        {
            return Parse(section, text);
        }

        RpcEndpoint? endpoint = null;
        int weight = 100, priority = 0;
        string? zone = null;
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (IConfigurationSection child in section.GetChildren())
        {
            switch (child.Key)
            {
                case "Address": endpoint = Parse(child, child.Value ?? string.Empty); break;
                case "Weight":
                    weight = int.TryParse(child.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int parsed)
                        ? parsed
                        : throw new ArgumentException($"RpcGen configuration '{child.Path}': '{child.Value}' is not a whole number.");
                    break;
                case "Priority":
                    priority = int.TryParse(child.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int level) && level >= 0
                        ? level
                        : throw new ArgumentException($"RpcGen configuration '{child.Path}': '{child.Value}' is not a priority (0 for the primary group, 1, 2… for backups).");
                    break;
                case "Zone": zone = child.Value; break;
                case "Tags":
                    foreach (IConfigurationSection tag in child.GetChildren())
                    {
                        tags[tag.Key] = tag.Value ?? string.Empty;
                    }

                    break;
                default: throw new ArgumentException($"RpcGen configuration '{child.Path}': unknown setting '{child.Key}'; known settings here: Address, Weight, Priority, Zone, Tags.");
            }
        }

        if (endpoint is null)
        {
            throw new ArgumentException($"RpcGen configuration '{section.Path}': an endpoint needs an Address (host:port).");
        }

        try
        {
            return new RpcEndpoint(endpoint.Host, endpoint.Port) { Weight = weight, Priority = priority, Zone = zone, Tags = tags };
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw new ArgumentException($"RpcGen configuration '{section.Path}': {ex.Message}", ex);
        }
    }

    private static RpcEndpoint Parse(IConfigurationSection section, string text)
    {
        try
        {
            return RpcEndpoint.Parse(text);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            throw new ArgumentException($"RpcGen configuration '{section.Path}': {ex.Message}", ex);
        }
    }
}

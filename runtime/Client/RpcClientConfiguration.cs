using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using RpcGen.Balancing;
using RpcGen.Protocol;
using RpcGen.Resilience;

namespace RpcGen.Client;

/// <summary>
/// Reads client settings from configuration (appsettings.json, environment variables…), so endpoints, strategies and
/// health settings change without recompiling. Read by hand, key by key: no reflection, safe under Native AOT. An
/// unknown key or an invalid value throws an <see cref="ArgumentException"/> naming the key, so a typo never passes
/// silently.
/// </summary>
public static class RpcClientConfiguration
{
    /// <summary>
    /// Applies <paramref name="section"/> (for example <c>configuration.GetSection("RpcGen")</c>) to
    /// <paramref name="options"/>. See docs/getting-started.md for the keys.
    /// </summary>
    public static RpcClientOptions ApplyConfiguration(this RpcClientOptions options, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(section);
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
                case "Zone":
                    options.Zone = child.Value;
                    break;
                case "LoadBalancing":
                    foreach (IConfigurationSection entry in child.GetChildren())
                    {
                        options.LoadBalancing[entry.Key] = Strategy(entry);
                    }

                    break;
                case "MaxFrameSize":
                    options.MaxFrameSize = Int(child);
                    break;
                case "ConnectTimeout":
                    options.ConnectTimeout = Time(child);
                    break;
                case "DefaultTimeout":
                    options.DefaultTimeout = string.Equals(child.Value, "Infinite", StringComparison.OrdinalIgnoreCase)
                        ? System.Threading.Timeout.InfiniteTimeSpan
                        : Time(child);
                    break;
                case "ReconnectBackoff":
                    options.ReconnectBackoff = Time(child);
                    break;
                case "MaxReconnectBackoff":
                    options.MaxReconnectBackoff = Time(child);
                    break;
                case "KeepAliveInterval":
                    options.KeepAliveInterval = Time(child);
                    break;
                case "KeepAliveTimeout":
                    options.KeepAliveTimeout = Time(child);
                    break;
                case "ConsistentHashLoadFactor":
                    options.ConsistentHashLoadFactor = Double(child);
                    break;
                case "PeakEwmaDecay":
                    options.PeakEwmaDecay = Time(child);
                    break;
                case "OutlierDetection":
                    ReadOutlierDetection(options.OutlierDetection, child);
                    break;
                case "Policies":
                    foreach (IConfigurationSection entry in child.GetChildren())
                    {
                        options.Policies[entry.Key] = ReadPolicy(entry);
                    }

                    break;
                case "RetryBudget":
                    foreach (IConfigurationSection entry in child.GetChildren())
                    {
                        switch (entry.Key)
                        {
                            case "Ratio": options.RetryBudget.Ratio = Double(entry); break;
                            case "MinRetriesPerSecond": options.RetryBudget.MinRetriesPerSecond = Double(entry); break;
                            case "Window": options.RetryBudget.Window = Time(entry); break;
                            default: throw Unknown(entry, "Ratio, MinRetriesPerSecond, Window");
                        }
                    }

                    break;
                case "SlowStart":
                    ReadSlowStart(options.SlowStart, child);
                    break;
                default:
                    throw Unknown(child, "Endpoints, Zone, LoadBalancing, MaxFrameSize, ConnectTimeout, DefaultTimeout, ReconnectBackoff, MaxReconnectBackoff, " +
                        "KeepAliveInterval, KeepAliveTimeout, ConsistentHashLoadFactor, PeakEwmaDecay, OutlierDetection, SlowStart, Policies, RetryBudget");
            }
        }

        return options;
    }

    private static void ReadOutlierDetection(OutlierDetectionOptions options, IConfigurationSection section)
    {
        foreach (IConfigurationSection child in section.GetChildren())
        {
            switch (child.Key)
            {
                case "Enabled": options.Enabled = Bool(child); break;
                case "ConsecutiveFailures": options.ConsecutiveFailures = Int(child); break;
                case "BaseEjectionTime": options.BaseEjectionTime = Time(child); break;
                case "MaxEjectionTime": options.MaxEjectionTime = Time(child); break;
                case "MaxEjectionPercent": options.MaxEjectionPercent = Int(child); break;
                case "PanicThresholdPercent": options.PanicThresholdPercent = Int(child); break;
                case "Interval": options.Interval = Time(child); break;
                case "ActiveHealthChecks": options.ActiveHealthChecks = Bool(child); break;
                case "SuccessRateInterval": options.SuccessRateInterval = Time(child); break;
                case "SuccessRateMinimumRequests": options.SuccessRateMinimumRequests = Int(child); break;
                case "SuccessRateStdevFactor": options.SuccessRateStdevFactor = Double(child); break;
                default:
                    throw Unknown(child, "Enabled, ConsecutiveFailures, BaseEjectionTime, MaxEjectionTime, MaxEjectionPercent, PanicThresholdPercent, " +
                        "Interval, ActiveHealthChecks, SuccessRateInterval, SuccessRateMinimumRequests, SuccessRateStdevFactor");
            }
        }
    }

    /// <summary>One service's or method's overrides: TimeoutMs, Idempotent, Deduplicate, Retry, Hedging, CircuitBreaker.</summary>
    private static RpcPolicyOverride ReadPolicy(IConfigurationSection section)
    {
        var policy = new RpcPolicyOverride();
        foreach (IConfigurationSection child in section.GetChildren())
        {
            switch (child.Key)
            {
                case "TimeoutMs": policy.TimeoutMs = Int(child); break;
                case "Idempotent": policy.Idempotent = Bool(child); break;
                case "Deduplicate": policy.Deduplicate = Bool(child); break;
                case "Retry":
                    var retry = new RpcRetryPolicy();
                    foreach (IConfigurationSection value in child.GetChildren())
                    {
                        switch (value.Key)
                        {
                            case "MaxAttempts": retry.MaxAttempts = Int(value); break;
                            case "InitialBackoffMs": retry.InitialBackoffMs = Int(value); break;
                            case "MaxBackoffMs": retry.MaxBackoffMs = Int(value); break;
                            case "BackoffMultiplier": retry.BackoffMultiplier = Double(value); break;
                            case "PerAttemptTimeoutMs": retry.PerAttemptTimeoutMs = Int(value); break;
                            case "RetryableStatusCodes":
                                var codes = new List<RpcStatusCode>();
                                foreach (IConfigurationSection code in value.GetChildren())
                                {
                                    codes.Add(Enum.TryParse(code.Value, ignoreCase: true, out RpcStatusCode parsed) && Enum.IsDefined(parsed)
                                        ? parsed
                                        : throw Invalid(code, $"a status code ({string.Join(", ", Enum.GetNames<RpcStatusCode>())})"));
                                }

                                retry.RetryableStatusCodes = codes.ToArray();
                                break;
                            default: throw Unknown(value, "MaxAttempts, InitialBackoffMs, MaxBackoffMs, BackoffMultiplier, PerAttemptTimeoutMs, RetryableStatusCodes");
                        }
                    }

                    retry.Validate($"RpcGen configuration '{child.Path}'");
                    policy.Retry = retry;
                    break;
                case "Hedging":
                    var hedging = new RpcHedgingPolicy();
                    foreach (IConfigurationSection value in child.GetChildren())
                    {
                        switch (value.Key)
                        {
                            case "MaxAttempts": hedging.MaxAttempts = Int(value); break;
                            case "DelayMs": hedging.DelayMs = Int(value); break;
                            case "AdaptiveDelay": hedging.AdaptiveDelay = Bool(value); break;
                            default: throw Unknown(value, "MaxAttempts, DelayMs, AdaptiveDelay");
                        }
                    }

                    hedging.Validate($"RpcGen configuration '{child.Path}'");
                    policy.Hedging = hedging;
                    break;
                case "CircuitBreaker":
                    var breaker = new RpcCircuitBreakerPolicy();
                    foreach (IConfigurationSection value in child.GetChildren())
                    {
                        switch (value.Key)
                        {
                            case "FailureRatio": breaker.FailureRatio = Double(value); break;
                            case "MinimumThroughput": breaker.MinimumThroughput = Int(value); break;
                            case "SamplingDurationMs": breaker.SamplingDurationMs = Int(value); break;
                            case "BreakDurationMs": breaker.BreakDurationMs = Int(value); break;
                            default: throw Unknown(value, "FailureRatio, MinimumThroughput, SamplingDurationMs, BreakDurationMs");
                        }
                    }

                    breaker.Validate($"RpcGen configuration '{child.Path}'");
                    policy.CircuitBreaker = breaker;
                    break;
                default: throw Unknown(child, "TimeoutMs, Idempotent, Deduplicate, Retry, Hedging, CircuitBreaker");
            }
        }

        return policy;
    }

    private static void ReadSlowStart(SlowStartOptions options, IConfigurationSection section)
    {
        foreach (IConfigurationSection child in section.GetChildren())
        {
            switch (child.Key)
            {
                case "Window": options.Window = Time(child); break;
                case "Aggression": options.Aggression = Double(child); break;
                case "MinimumWeightPercent": options.MinimumWeightPercent = Double(child); break;
                default: throw Unknown(child, "Window, Aggression, MinimumWeightPercent");
            }
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
        int weight = 100;
        string? zone = null;
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (IConfigurationSection child in section.GetChildren())
        {
            switch (child.Key)
            {
                case "Address": endpoint = Parse(child, child.Value ?? string.Empty); break;
                case "Weight": weight = Int(child); break;
                case "Zone": zone = child.Value; break;
                case "Tags":
                    foreach (IConfigurationSection tag in child.GetChildren())
                    {
                        tags[tag.Key] = tag.Value ?? string.Empty;
                    }

                    break;
                default: throw Unknown(child, "Address, Weight, Zone, Tags");
            }
        }

        if (endpoint is null)
        {
            throw new ArgumentException($"RpcGen configuration '{section.Path}': an endpoint needs an Address (host:port).");
        }

        try
        {
            return new RpcEndpoint(endpoint.Host, endpoint.Port) { Weight = weight, Zone = zone, Tags = tags };
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

    private static LoadBalanceStrategy Strategy(IConfigurationSection section)
    {
        if (Enum.TryParse(section.Value, ignoreCase: true, out LoadBalanceStrategy strategy) && Enum.IsDefined(strategy) &&
            !int.TryParse(section.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
        {
            return strategy;
        }

        throw new ArgumentException(
            $"RpcGen configuration '{section.Path}': '{section.Value}' is not a load-balancing strategy; use one of {string.Join(", ", Enum.GetNames<LoadBalanceStrategy>())}.");
    }

    private static int Int(IConfigurationSection section) =>
        int.TryParse(section.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw Invalid(section, "a whole number");

    private static double Double(IConfigurationSection section) =>
        double.TryParse(section.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            ? value
            : throw Invalid(section, "a number");

    private static bool Bool(IConfigurationSection section) =>
        bool.TryParse(section.Value, out bool value) ? value : throw Invalid(section, "true or false");

    /// <summary>"00:00:05" (a TimeSpan), or a plain number of milliseconds.</summary>
    private static TimeSpan Time(IConfigurationSection section)
    {
        if (double.TryParse(section.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double milliseconds))
        {
            return TimeSpan.FromMilliseconds(milliseconds);
        }

        return TimeSpan.TryParse(section.Value, CultureInfo.InvariantCulture, out TimeSpan value)
            ? value
            : throw Invalid(section, "a duration (\"00:00:05\") or a number of milliseconds");
    }

    private static ArgumentException Invalid(IConfigurationSection section, string expected) =>
        new($"RpcGen configuration '{section.Path}': '{section.Value}' is not {expected}.");

    private static ArgumentException Unknown(IConfigurationSection section, string known) =>
        new($"RpcGen configuration '{section.Path}': unknown setting '{section.Key}'; known settings here: {known}.");
}

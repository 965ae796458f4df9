using System;
using System.Collections.Generic;
using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;

namespace RpcGen.Server;

/// <summary>
/// Reads server settings from configuration: <c>Listen</c> (a list of <c>"host:port"</c>), <c>Tls</c> (a certificate
/// file), <c>IncludeExceptionDetails</c>, <c>EnableDescribe</c>, <c>RunHandlersInline</c>, and the groups <c>Limits</c>
/// (<see cref="RpcServerLimits"/>) and <c>Deduplication</c> (<see cref="DeduplicationOptions"/>) by their property
/// names. The groups are bound by Microsoft.Extensions.Configuration.Binder's source generator (no reflection). An
/// unknown key, an invalid value or a key of the old flat layout throws an <see cref="ArgumentException"/> naming the
/// key. Interceptors, the authenticator, the serializer and the clock stay code-only.
/// </summary>
public static class RpcServerConfiguration
{
    /// <summary>Durations: .NET's TimeSpan format ("00:00:05"); a bare number other than 0 would be read as days.</summary>
    internal static readonly string[] DurationKeys =
    {
        "Limits:HandshakeTimeout", "Limits:IdleTimeout", "Limits:FrameTimeout", "Limits:ResponseDrainTimeout", "Limits:GoAwayLinger",
        "Limits:MemoryTrimInterval", "Deduplication:Window", "Deduplication:Lease", "Deduplication:SweepInterval", "Deduplication:File:Window",
    };

    /// <summary>Keys of the flat layout before the limits were grouped, and where each went.</summary>
    private static readonly Dictionary<string, string> s_moved = new(StringComparer.OrdinalIgnoreCase)
    {
        ["MaxFrameSize"] = "Limits:MaxFrameSize",
        ["MaxMetadataSize"] = "Limits:MaxMetadataSize",
        ["MaxConnections"] = "Limits:MaxConnections",
        ["MaxConcurrentCallsPerConnection"] = "Limits:MaxConcurrentCallsPerConnection",
        ["MaxConcurrentCalls"] = "Limits:MaxConcurrentCalls",
        ["MaxResponseBufferSize"] = "Limits:MaxResponseBufferSize",
        ["HandshakeTimeout"] = "Limits:HandshakeTimeout",
        ["IdleTimeout"] = "Limits:IdleTimeout",
        ["FrameTimeout"] = "Limits:FrameTimeout",
        ["ResponseDrainTimeout"] = "Limits:ResponseDrainTimeout",
        ["GoAwayLinger"] = "Limits:GoAwayLinger",
        ["DeduplicationCapacity"] = "Deduplication:Capacity",
        ["DeduplicationMaxBytes"] = "Deduplication:MaxBytes",
        ["DeduplicationWindow"] = "Deduplication:Window",
    };

    /// <summary>
    /// Applies <paramref name="section"/> (for example <c>configuration.GetSection("RpcGen:Server")</c>) to
    /// <paramref name="options"/>. See docs/hosting.md for the keys.
    /// </summary>
    public static RpcServerOptions ApplyConfiguration(this RpcServerOptions options, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(section);
        CheckDurations(section);
        foreach (IConfigurationSection child in section.GetChildren())
        {
            switch (child.Key)
            {
                case "Listen":
                    options.Listen.Clear();
                    foreach (IConfigurationSection address in child.GetChildren())
                    {
                        options.Listen.Add(ParseListen(address));
                    }

                    break;
                case "Tls":
                    options.Tls = ReadTls(child);
                    break;
                case "IncludeExceptionDetails":
                    options.IncludeExceptionDetails = ReadBool(child);
                    break;
                case "EnableDescribe":
                    options.EnableDescribe = ReadBool(child);
                    break;
                case "RunHandlersInline":
                    options.RunHandlersInline = ReadBool(child);
                    break;
                case "Limits":
                    Guard(child, () => child.Bind(options.Limits, static o => o.ErrorOnUnknownConfiguration = true));
                    ApplyNoLimits(child, options.Limits);
                    break;
                case "Deduplication":
                    ApplyDeduplication(child, options.Deduplication);
                    break;
                default:
                    if (s_moved.TryGetValue(child.Key, out string? moved))
                    {
                        throw new ArgumentException(
                            $"RpcGen configuration '{child.Path}': '{child.Key}' moved to '{moved}' when the server's limits were grouped into Limits and Deduplication (docs/hosting.md).");
                    }

                    throw new ArgumentException(
                        $"RpcGen configuration '{child.Path}': unknown setting '{child.Key}'; known settings here: Listen, Tls, IncludeExceptionDetails, EnableDescribe, RunHandlersInline, Limits, Deduplication.");
            }
        }

        return options;
    }

    /// <summary>
    /// The binder names the key of a value it cannot convert and the type of an unknown key; a setter names the rule a
    /// value breaks. Each becomes an error that names the section.
    /// </summary>
    private static void Guard(IConfigurationSection section, Action bind)
    {
        try
        {
            bind();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            throw new ArgumentException($"RpcGen configuration '{section.Path}': {ex.Message}", ex);
        }
    }

    /// <summary>The deduplication settings by name (the stores themselves are objects, set in code or by RpcGen.Hosting).</summary>
    private static void ApplyDeduplication(IConfigurationSection section, DeduplicationOptions options)
    {
        foreach (IConfigurationSection child in section.GetChildren())
        {
            switch (child.Key.ToUpperInvariant())
            {
                case "CAPACITY": Guard(child, () => options.Capacity = child.Get<int>()); break;
                case "MAXBYTES": Guard(child, () => options.MaxBytes = child.Get<long>()); break;
                case "WINDOW": Guard(child, () => options.Window = child.Get<TimeSpan>()); break;
                case "LEASE": Guard(child, () => options.Lease = child.Get<TimeSpan>()); break;
                case "SWEEPINTERVAL": Guard(child, () => options.SweepInterval = child.Get<TimeSpan>()); break;
                case "STORE": options.StoreNames[string.Empty] = StoreName(child); break;
                case "STORES":
                    foreach (IConfigurationSection service in child.GetChildren())
                    {
                        options.StoreNames[service.Key] = StoreName(service);
                    }

                    break;
                case "FILE": ApplyFileStore(child, options.File); break;
                default:
                    throw new ArgumentException(
                        $"RpcGen configuration '{child.Path}': unknown setting '{child.Key}'; " +
                        "known settings here: Capacity, MaxBytes, Window, Lease, SweepInterval, Store, Stores, File.");
            }
        }
    }

    private static string StoreName(IConfigurationSection section) =>
        section.Value is { Length: > 0 } name
            ? name
            : throw new ArgumentException(
                $"RpcGen configuration '{section.Path}': a store name is needed (\"memory\", \"file\", or one added by name).");

    private static void ApplyFileStore(IConfigurationSection section, Deduplication.FileDeduplicationStoreOptions file)
    {
        foreach (IConfigurationSection child in section.GetChildren())
        {
            switch (child.Key.ToUpperInvariant())
            {
                case "DIRECTORY": file.Directory = child.Value ?? string.Empty; break;
                case "WINDOW": Guard(child, () => file.Window = child.Get<TimeSpan>()); break;
                case "CAPACITY": Guard(child, () => file.Capacity = child.Get<int>()); break;
                case "MAXBYTES": Guard(child, () => file.MaxBytes = child.Get<long>()); break;
                case "FLUSHTODISK": file.FlushToDisk = ReadBool(child); break;
                default:
                    throw new ArgumentException(
                        $"RpcGen configuration '{child.Path}': unknown setting '{child.Key}'; " +
                        "known settings here: Directory, Window, Capacity, MaxBytes, FlushToDisk.");
            }
        }
    }

    /// <summary>An empty value of a limit that may be null means no limit (the binder leaves empty values alone).</summary>
    private static void ApplyNoLimits(IConfigurationSection section, RpcServerLimits limits)
    {
        foreach (IConfigurationSection child in section.GetChildren())
        {
            if (child.Value is not { Length: 0 })
            {
                continue;
            }

            switch (child.Key.ToUpperInvariant())
            {
                case "MAXCONNECTIONS": limits.MaxConnections = null; break;
                case "MAXCONCURRENTCALLS": limits.MaxConcurrentCalls = null; break;
                case "MAXRESPONSEBUFFERSIZE": limits.MaxResponseBufferSize = null; break;
                default: throw new ArgumentException($"RpcGen configuration '{child.Path}': a value is needed; only MaxConnections, MaxConcurrentCalls and MaxResponseBufferSize may be empty (no limit).");
            }
        }
    }

    private static bool ReadBool(IConfigurationSection child) =>
        bool.TryParse(child.Value, out bool value) ? value : throw new ArgumentException($"RpcGen configuration '{child.Path}': '{child.Value}' is not true or false.");

    private static void CheckDurations(IConfiguration section)
    {
        string prefix = section is IConfigurationSection s ? s.Path + ":" : string.Empty;
        foreach (KeyValuePair<string, string?> entry in section.AsEnumerable(makePathsRelative: true))
        {
            if (entry.Value is { Length: > 0 } value &&
                double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) && number != 0 &&
                Array.Exists(DurationKeys, k => string.Equals(k, entry.Key, StringComparison.OrdinalIgnoreCase)))
            {
                throw new ArgumentException(
                    $"RpcGen configuration '{prefix}{entry.Key}': '{value}' is a bare number, which .NET reads as {value} days; write a duration such as \"00:00:05\".");
            }
        }
    }

    private static IPEndPoint ParseListen(IConfigurationSection section)
    {
        string text = section.Value ?? string.Empty;
        int colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port <= IPEndPoint.MaxPort)
        {
            string host = text[..colon].Trim('[', ']');
            if (host is "*" or "0.0.0.0")
            {
                return new IPEndPoint(IPAddress.Any, port);
            }

            if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                return new IPEndPoint(IPAddress.Loopback, port);
            }

            if (IPAddress.TryParse(host, out IPAddress? address))
            {
                return new IPEndPoint(address, port);
            }
        }

        throw new ArgumentException($"RpcGen configuration '{section.Path}': '{text}' is not a listen address; write \"ip:port\", \"localhost:port\" or \"*:port\" (port 0 picks a free one).");
    }

    private static RpcServerTlsOptions ReadTls(IConfigurationSection section)
    {
        string? certificate = null, key = null, password = null, clientAuthorities = null;
        bool requireClientCertificate = false;
        foreach (IConfigurationSection child in section.GetChildren())
        {
            switch (child.Key)
            {
                case "CertificatePath": certificate = child.Value; break;
                case "KeyPath": key = child.Value; break;
                case "Password": password = child.Value; break;
                case "ClientCertificateAuthoritiesPath": clientAuthorities = child.Value; break;
                case "ClientCertificateRequired":
                    requireClientCertificate = bool.TryParse(child.Value, out bool required)
                        ? required
                        : throw new ArgumentException($"RpcGen configuration '{child.Path}': '{child.Value}' is not true or false.");
                    break;
                default:
                    throw new ArgumentException($"RpcGen configuration '{child.Path}': unknown setting '{child.Key}'; known settings here: CertificatePath, KeyPath, Password, ClientCertificateRequired, ClientCertificateAuthoritiesPath.");
            }
        }

        if (string.IsNullOrEmpty(certificate))
        {
            throw new ArgumentException($"RpcGen configuration '{section.Path}:CertificatePath': TLS needs a certificate file (.pfx, or .pem with KeyPath).");
        }

        var tls = new RpcServerTlsOptions
        {
            Certificate = Load(section, certificate, key, password),
            ClientCertificateRequired = requireClientCertificate,
        };
        if (!string.IsNullOrEmpty(clientAuthorities))
        {
            try
            {
                var authorities = new X509Certificate2Collection();
                authorities.ImportFromPemFile(clientAuthorities);
                tls.ClientCertificateAuthorities = authorities;
            }
            catch (Exception ex) when (ex is System.IO.IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"RpcGen configuration '{section.Path}:ClientCertificateAuthoritiesPath': '{clientAuthorities}' could not be read as PEM certificates: {ex.Message}", ex);
            }
        }

        return tls;
    }

    private static X509Certificate2 Load(IConfigurationSection section, string certificate, string? key, string? password)
    {
        try
        {
            if (certificate.EndsWith(".pem", StringComparison.OrdinalIgnoreCase) || certificate.EndsWith(".crt", StringComparison.OrdinalIgnoreCase))
            {
                using X509Certificate2 pem = key is null
                    ? X509Certificate2.CreateFromPemFile(certificate)
                    : password is null ? X509Certificate2.CreateFromPemFile(certificate, key) : X509Certificate2.CreateFromEncryptedPemFile(certificate, password, key);
#if NET9_0_OR_GREATER
                // A PEM key lives only in memory; export it once so SslStream can use it on every platform.
                return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
#else
                return new X509Certificate2(pem.Export(X509ContentType.Pkcs12));
#endif
            }

#if NET9_0_OR_GREATER
            return X509CertificateLoader.LoadPkcs12FromFile(certificate, password);
#else
            return new X509Certificate2(certificate, password);
#endif
        }
        catch (Exception ex) when (ex is System.IO.IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"RpcGen configuration '{section.Path}:CertificatePath': '{certificate}' could not be loaded: {ex.Message}", ex);
        }
    }
}

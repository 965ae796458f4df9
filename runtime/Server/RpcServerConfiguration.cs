using System;
using System.Collections.Generic;
using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;

namespace RpcGen.Server;

/// <summary>
/// Reads server settings from configuration: <c>Listen</c> (a list of <c>"host:port"</c>), the limits and timeouts of
/// <see cref="RpcServerOptions"/> by their property names, and <c>Tls</c> (a certificate file). The scalar settings are
/// bound by Microsoft.Extensions.Configuration.Binder's source generator (no reflection). An unknown key or an invalid
/// value throws an <see cref="ArgumentException"/> naming the key. Interceptors, the authenticator, the serializer and
/// the clock stay code-only.
/// </summary>
public static class RpcServerConfiguration
{
    private static readonly string[] s_durationKeys = { "DeduplicationWindow", "GoAwayLinger", "HandshakeTimeout", "IdleTimeout", "FrameTimeout", "ResponseDrainTimeout" };

    /// <summary>
    /// Applies <paramref name="section"/> (for example <c>configuration.GetSection("RpcGen:Server")</c>) to
    /// <paramref name="options"/>. See docs/hosting.md for the keys.
    /// </summary>
    public static RpcServerOptions ApplyConfiguration(this RpcServerOptions options, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(section);
        var scalars = new ServerSettings();
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
                default:
                    if (Array.Exists(s_durationKeys, k => string.Equals(k, child.Key, StringComparison.OrdinalIgnoreCase)) &&
                        double.TryParse(child.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) && number != 0)
                    {
                        throw new ArgumentException(
                            $"RpcGen configuration '{child.Path}': '{child.Value}' is a bare number, which .NET reads as {child.Value} days; write a duration such as \"00:00:05\".");
                    }

                    break;
            }
        }

        try
        {
            // Intercepted at compile time by the binder's source generator (EnableConfigurationBindingGenerator).
            section.Bind(scalars, static o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            string path = section is IConfigurationSection s ? s.Path : "(root)";
            throw new ArgumentException($"RpcGen configuration '{path}': {ex.Message} Known settings: Listen, Tls, and the limits and timeouts of RpcServerOptions (docs/hosting.md).", ex);
        }

        scalars.ApplyTo(options);
        return options;
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

    /// <summary>The scalar settings, nullable so that only keys present change the options.</summary>
    internal sealed class ServerSettings
    {
        public List<string>? Listen { get; set; }

        public Dictionary<string, string>? Tls { get; set; }

        public int? MaxFrameSize { get; set; }

        public int? MaxMetadataSize { get; set; }

        public bool? IncludeExceptionDetails { get; set; }

        public bool? RunHandlersInline { get; set; }

        public int? DeduplicationCapacity { get; set; }

        public long? DeduplicationMaxBytes { get; set; }

        public TimeSpan? DeduplicationWindow { get; set; }

        public TimeSpan? GoAwayLinger { get; set; }

        public TimeSpan? HandshakeTimeout { get; set; }

        public int? MaxConnections { get; set; }

        public int? MaxConcurrentCallsPerConnection { get; set; }

        public int? MaxConcurrentCalls { get; set; }

        public TimeSpan? IdleTimeout { get; set; }

        public TimeSpan? FrameTimeout { get; set; }

        public long? MaxResponseBufferSize { get; set; }

        public TimeSpan? ResponseDrainTimeout { get; set; }

        public void ApplyTo(RpcServerOptions options)
        {
            options.MaxFrameSize = MaxFrameSize ?? options.MaxFrameSize;
            options.MaxMetadataSize = MaxMetadataSize ?? options.MaxMetadataSize;
            options.IncludeExceptionDetails = IncludeExceptionDetails ?? options.IncludeExceptionDetails;
            options.RunHandlersInline = RunHandlersInline ?? options.RunHandlersInline;
            options.DeduplicationCapacity = DeduplicationCapacity ?? options.DeduplicationCapacity;
            options.DeduplicationMaxBytes = DeduplicationMaxBytes ?? options.DeduplicationMaxBytes;
            options.DeduplicationWindow = DeduplicationWindow ?? options.DeduplicationWindow;
            options.GoAwayLinger = GoAwayLinger ?? options.GoAwayLinger;
            options.HandshakeTimeout = HandshakeTimeout ?? options.HandshakeTimeout;
            options.MaxConnections = MaxConnections ?? options.MaxConnections;
            options.MaxConcurrentCallsPerConnection = MaxConcurrentCallsPerConnection ?? options.MaxConcurrentCallsPerConnection;
            options.MaxConcurrentCalls = MaxConcurrentCalls ?? options.MaxConcurrentCalls;
            options.IdleTimeout = IdleTimeout ?? options.IdleTimeout;
            options.FrameTimeout = FrameTimeout ?? options.FrameTimeout;
            options.MaxResponseBufferSize = MaxResponseBufferSize ?? options.MaxResponseBufferSize;
            options.ResponseDrainTimeout = ResponseDrainTimeout ?? options.ResponseDrainTimeout;
        }
    }
}

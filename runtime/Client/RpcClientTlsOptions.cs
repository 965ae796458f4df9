using System;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using RpcGen.Transport;

namespace RpcGen.Client;

/// <summary>
/// TLS for a client's TCP connections (<see cref="RpcClientOptions.Tls"/>): how the server's certificate is checked
/// (the machine's trusted roots, or the authorities you pin), the name it must carry, and the client's own certificate
/// for mutual TLS. TLS 1.2 and 1.3 only; ALPN protocol <c>rpcgen/1</c>. In-process endpoints do not use TLS.
/// </summary>
public sealed class RpcClientTlsOptions
{
    /// <summary>
    /// The name the server's certificate must carry (and the SNI sent). The default value is none: each endpoint's
    /// host, as written in its address.
    /// </summary>
    public string? TargetHost { get; set; }

    /// <summary>
    /// The authorities the server's certificate must chain to (the whole trust, instead of the machine's store): pin a
    /// private CA. The default value is none: the machine's trusted roots.
    /// </summary>
    public X509Certificate2Collection? CertificateAuthorities { get; set; }

    /// <summary>The client's certificate (with its private key), for servers that require mutual TLS.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>Your own check of the server's certificate, after the chain was built; replaces the default decision.</summary>
    public Func<X509Certificate2?, X509Chain?, SslPolicyErrors, bool>? ServerCertificateValidation { get; set; }

    /// <summary>The TLS versions offered. The default value is TLS 1.2 and 1.3.</summary>
    public SslProtocols EnabledProtocols { get; set; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    internal void Validate()
    {
        if ((EnabledProtocols & ~(SslProtocols.Tls12 | SslProtocols.Tls13)) != 0)
        {
            throw new ArgumentException("RpcGen speaks TLS 1.2 and 1.3 only; older versions are not safe.", nameof(EnabledProtocols));
        }

        if (ClientCertificate is { HasPrivateKey: false })
        {
            throw new ArgumentException($"The client certificate '{ClientCertificate.Subject}' has no private key.", nameof(ClientCertificate));
        }
    }

    /// <summary>The handshake options for one connection to <paramref name="host"/>; <paramref name="problem"/> receives why a certificate was refused.</summary>
    internal SslClientAuthenticationOptions Build(string host, Action<string> problem)
    {
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = TargetHost ?? host,
            ApplicationProtocols = new() { TransportConnection.Alpn },
            EnabledSslProtocols = EnabledProtocols,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        if (ClientCertificate is { } certificate)
        {
            options.ClientCertificates = new X509CertificateCollection { certificate };
        }

        if (CertificateAuthorities is { Count: > 0 } authorities)
        {
            options.CertificateChainPolicy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            options.CertificateChainPolicy.CustomTrustStore.AddRange(authorities);
        }

        Func<X509Certificate2?, X509Chain?, SslPolicyErrors, bool>? custom = ServerCertificateValidation;
        string expected = options.TargetHost;
        options.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
        {
            var server = certificate as X509Certificate2 ?? (certificate is null ? null : new X509Certificate2(certificate));
            if (custom is not null)
            {
                return custom(server, chain, errors);
            }

            if (errors != SslPolicyErrors.None)
            {
                problem(Describe(server, chain, errors, expected));
                return false;
            }

            return true;
        };
        return options;
    }

    /// <summary>What is wrong with the server's certificate, in words that say what to fix.</summary>
    private static string Describe(X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors, string expected)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return "the server sent no certificate";
        }

        var reasons = new System.Collections.Generic.List<string>();
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            reasons.Add($"its certificate is for '{certificate.GetNameInfo(X509NameType.DnsName, forIssuer: false)}', not '{expected}' (set RpcClientTlsOptions.TargetHost, or issue the certificate for that name)");
        }

        if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            var statuses = new System.Collections.Generic.List<string>();
            foreach (X509ChainStatus status in chain?.ChainStatus ?? Array.Empty<X509ChainStatus>())
            {
                statuses.Add(status.Status.ToString());
            }

            string detail = statuses.Count == 0 ? "its chain could not be built" : string.Join(", ", statuses);
            reasons.Add(statuses.Contains(nameof(X509ChainStatusFlags.NotTimeValid))
                ? $"its certificate is expired or not yet valid ({certificate.NotBefore:u} to {certificate.NotAfter:u}; {detail})"
                : $"its certificate is not trusted ({detail}; pin its authority in RpcClientTlsOptions.CertificateAuthorities, or trust it on this machine)");
        }

        return "the server's certificate was refused: " + string.Join("; ", reasons);
    }
}

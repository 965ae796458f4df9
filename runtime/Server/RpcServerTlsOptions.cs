using System;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using RpcGen.Transport;

namespace RpcGen.Server;

/// <summary>
/// TLS for a server's TCP connections (<see cref="RpcServerOptions.Tls"/>): its certificate, and, for mutual TLS, the
/// client certificates it requires and trusts. TLS 1.2 and 1.3 only; ALPN protocol <c>rpcgen/1</c>. The handshake is
/// bounded by <see cref="RpcServerLimits.HandshakeTimeout"/>; a failed one closes that connection only.
/// </summary>
public sealed class RpcServerTlsOptions
{
    /// <summary>The server's certificate (with its private key). Set this or <see cref="CertificateSelector"/>.</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>
    /// Called for each new connection to choose the certificate: return a renewed one and new connections use it at
    /// once, without restarting the server (connections already open keep theirs).
    /// </summary>
    public Func<X509Certificate2>? CertificateSelector { get; set; }

    /// <summary>Mutual TLS: a client without a valid certificate cannot connect. The default value is false.</summary>
    public bool ClientCertificateRequired { get; set; }

    /// <summary>
    /// The authorities client certificates must chain to (the whole trust, instead of the machine's store), for mutual
    /// TLS with a private CA. The default value is none: the machine's trusted roots.
    /// </summary>
    public X509Certificate2Collection? ClientCertificateAuthorities { get; set; }

    /// <summary>Your own check of a client certificate, after the chain was built; replaces the default decision.</summary>
    public Func<X509Certificate2, X509Chain?, SslPolicyErrors, bool>? ClientCertificateValidation { get; set; }

    /// <summary>The TLS versions offered. The default value is TLS 1.2 and 1.3.</summary>
    public SslProtocols EnabledProtocols { get; set; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    internal void Validate()
    {
        if (Certificate is null && CertificateSelector is null)
        {
            throw new ArgumentException("RpcServerOptions.Tls needs a Certificate or a CertificateSelector.", nameof(Certificate));
        }

        if (Certificate is { HasPrivateKey: false })
        {
            throw new ArgumentException($"The TLS certificate '{Certificate.Subject}' has no private key; a server needs one to prove it owns the certificate.", nameof(Certificate));
        }

        if ((EnabledProtocols & ~(SslProtocols.Tls12 | SslProtocols.Tls13)) != 0)
        {
            throw new ArgumentException("RpcGen speaks TLS 1.2 and 1.3 only; older versions are not safe.", nameof(EnabledProtocols));
        }
    }

    internal SslServerAuthenticationOptions Build()
    {
        X509Certificate2? fixedCertificate = Certificate;
        Func<X509Certificate2>? selector = CertificateSelector;
        var options = new SslServerAuthenticationOptions
        {
            ApplicationProtocols = new() { TransportConnection.Alpn },
            EnabledSslProtocols = EnabledProtocols,
            ClientCertificateRequired = ClientCertificateRequired,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            ServerCertificateSelectionCallback = (_, _) => selector?.Invoke() ?? fixedCertificate!,
        };
        if (ClientCertificateAuthorities is { Count: > 0 } authorities)
        {
            options.CertificateChainPolicy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            options.CertificateChainPolicy.CustomTrustStore.AddRange(authorities);
        }

        Func<X509Certificate2, X509Chain?, SslPolicyErrors, bool>? custom = ClientCertificateValidation;
        bool required = ClientCertificateRequired;
        options.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
        {
            if (certificate is null)
            {
                return !required;
            }

            var client = certificate as X509Certificate2 ?? new X509Certificate2(certificate);
            return custom?.Invoke(client, chain, errors) ?? errors == SslPolicyErrors.None;
        };
        return options;
    }
}

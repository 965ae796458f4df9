using System;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Server;

/// <summary>Authenticators for the usual cases: a mutual-TLS certificate, a bearer token.</summary>
public static class RpcAuthenticators
{
    /// <summary>
    /// The caller is the subject of its TLS client certificate (name: the certificate's common name; authentication type
    /// "Certificate"); <paramref name="roles"/> maps a certificate to roles. Anonymous without a certificate.
    /// </summary>
    public static IRpcAuthenticator ClientCertificate(Func<X509Certificate2, string[]>? roles = null) => new CertificateAuthenticator(roles);

    /// <summary>
    /// The caller is what <paramref name="validate"/> makes of the <c>authorization: Bearer &lt;token&gt;</c> header (null:
    /// the token is not valid, and the call fails with Unauthenticated). Anonymous without the header.
    /// </summary>
    public static IRpcAuthenticator BearerToken(Func<string, CancellationToken, ValueTask<ClaimsPrincipal?>> validate) => new BearerAuthenticator(validate);

    private sealed class CertificateAuthenticator : IRpcAuthenticator
    {
        private readonly Func<X509Certificate2, string[]>? _roles;

        public CertificateAuthenticator(Func<X509Certificate2, string[]>? roles) => _roles = roles;

        public ValueTask<ClaimsPrincipal?> AuthenticateAsync(RpcCallContext call, CancellationToken cancellationToken)
        {
            if (call.ClientCertificate is not { } certificate)
            {
                return new ValueTask<ClaimsPrincipal?>((ClaimsPrincipal?)null);
            }

            var identity = new ClaimsIdentity("Certificate");
            identity.AddClaim(new Claim(ClaimTypes.Name, certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false)));
            identity.AddClaim(new Claim(ClaimTypes.Thumbprint, certificate.Thumbprint));
            foreach (string role in _roles?.Invoke(certificate) ?? Array.Empty<string>())
            {
                identity.AddClaim(new Claim(ClaimTypes.Role, role));
            }

            return new ValueTask<ClaimsPrincipal?>(new ClaimsPrincipal(identity));
        }
    }

    private sealed class BearerAuthenticator : IRpcAuthenticator
    {
        private readonly Func<string, CancellationToken, ValueTask<ClaimsPrincipal?>> _validate;

        public BearerAuthenticator(Func<string, CancellationToken, ValueTask<ClaimsPrincipal?>> validate)
        {
            ArgumentNullException.ThrowIfNull(validate);
            _validate = validate;
        }

        public async ValueTask<ClaimsPrincipal?> AuthenticateAsync(RpcCallContext call, CancellationToken cancellationToken)
        {
            string? header = call.RequestHeaders.GetValue("authorization");
            if (header is null)
            {
                return null;
            }

            if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                throw new RpcException(RpcStatusCode.Unauthenticated, "The authorization header is not 'Bearer <token>'.");
            }

            return await _validate(header.Substring(7).Trim(), cancellationToken).ConfigureAwait(false)
                ?? throw new RpcException(RpcStatusCode.Unauthenticated, "The bearer token is not valid.");
        }
    }
}

using System;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Descriptors;

namespace RpcGen.Client;

/// <summary>
/// Credentials a client adds to every attempt (<see cref="RpcClientOptions.Credentials"/>): called again for each
/// retry or hedge, so a token that expired meanwhile can be refreshed. As in gRPC, credentials are never sent over
/// plain TCP unless <see cref="RpcClientOptions.AllowCredentialsOverPlainText"/> says so: use TLS, or in-process endpoints.
/// </summary>
public abstract class RpcCallCredentials
{
    /// <summary>Adds this attempt's credentials to <paramref name="headers"/>.</summary>
    public abstract ValueTask ApplyAsync(RpcMetadata headers, RpcMethodDescriptor method, CancellationToken cancellationToken);

    /// <summary>
    /// <c>authorization: Bearer &lt;token&gt;</c>, with the token from <paramref name="getToken"/> (cache it there, and
    /// return a fresh one when it is about to expire).
    /// </summary>
    public static RpcCallCredentials BearerToken(Func<CancellationToken, ValueTask<string>> getToken) => new BearerTokenCredentials(getToken);

    private sealed class BearerTokenCredentials : RpcCallCredentials
    {
        private readonly Func<CancellationToken, ValueTask<string>> _getToken;

        public BearerTokenCredentials(Func<CancellationToken, ValueTask<string>> getToken)
        {
            ArgumentNullException.ThrowIfNull(getToken);
            _getToken = getToken;
        }

        public override async ValueTask ApplyAsync(RpcMetadata headers, RpcMethodDescriptor method, CancellationToken cancellationToken)
        {
            string token = await _getToken(cancellationToken).ConfigureAwait(false);
            headers.Add("authorization", "Bearer " + token);
        }
    }
}

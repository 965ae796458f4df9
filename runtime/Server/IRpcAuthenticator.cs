using System.Security.Claims;
using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Server;

/// <summary>
/// Turns a call (its client certificate, its metadata) into the caller's identity, before any handler runs
/// (<see cref="RpcServerOptions.Authenticator"/>). Return null for an anonymous caller; throw an
/// <see cref="RpcException"/> with <see cref="RpcStatusCode.Unauthenticated"/> for credentials that are
/// present but wrong. The principal is <see cref="RpcCallContext.User"/>; <c>[RpcAuthorize]</c> is checked against it.
/// </summary>
public interface IRpcAuthenticator
{
    /// <summary>The caller of <paramref name="call"/>, or null when it presented no credentials.</summary>
    ValueTask<ClaimsPrincipal?> AuthenticateAsync(RpcCallContext call, CancellationToken cancellationToken);
}

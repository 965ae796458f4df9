using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Security.Claims;

namespace RpcGen.Descriptors;

/// <summary>
/// A method's effective <c>[RpcAuthorize]</c> / <c>[RpcAllowAnonymous]</c>, as the generator wrote it into the descriptor.
/// </summary>
public sealed class RpcAuthorization
{
    /// <summary>Creates the rule. Called by generated code.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public RpcAuthorization(bool allowAnonymous, string[][] roles)
    {
        AllowAnonymous = allowAnonymous;
        Roles = roles;
    }

    /// <summary>True when <c>[RpcAllowAnonymous]</c> lets anyone call the method.</summary>
    public bool AllowAnonymous { get; }

    /// <summary>One entry per <c>[RpcAuthorize]</c>: the roles it accepts (any one is enough; none: any authenticated caller).</summary>
    public IReadOnlyList<string[]> Roles { get; }

    /// <summary>Null when <paramref name="user"/> may call; otherwise the status and why not.</summary>
    public (RpcStatusCode Code, string Reason)? Check(ClaimsPrincipal? user, string method)
    {
        if (AllowAnonymous || Roles.Count == 0)
        {
            return null;
        }

        if (user?.Identity is not { IsAuthenticated: true })
        {
            return (RpcStatusCode.Unauthenticated, $"'{method}' requires an authenticated caller ([RpcAuthorize]).");
        }

        foreach (string[] accepted in Roles)
        {
            if (accepted.Length > 0 && !Array.Exists(accepted, user.IsInRole))
            {
                return (RpcStatusCode.PermissionDenied, $"'{method}' requires one of the roles {string.Join(", ", accepted)}; '{user.Identity.Name}' has none of them.");
            }
        }

        return null;
    }
}

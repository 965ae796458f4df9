using System;

namespace RpcGen;

/// <summary>
/// Only authenticated callers may call this method (or every method of this interface); with <see cref="Roles"/>, only
/// callers in at least one of them. Several attributes (interface and method) must all be satisfied. Checked by the
/// server before the handler runs, against the principal <c>RpcServerOptions.Authenticator</c> made from the call:
/// <c>Unauthenticated</c> without one, <c>PermissionDenied</c> without a role.
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class RpcAuthorizeAttribute : Attribute
{
    /// <summary>Comma-separated roles, any one of which is enough; none: any authenticated caller.</summary>
    public string? Roles { get; set; }
}

/// <summary>Anyone may call this method (or interface), even under an interface's <see cref="RpcAuthorizeAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class RpcAllowAnonymousAttribute : Attribute
{
}

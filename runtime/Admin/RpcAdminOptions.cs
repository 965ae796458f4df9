using System;

namespace RpcGen.Admin;

/// <summary>Who may open the admin page of <see cref="RpcAdminListener"/> (RpcGen.AspNetCore has its own, with policies).</summary>
public sealed class RpcAdminOptions
{
    /// <summary>
    /// The port to listen on (on 127.0.0.1 unless <see cref="AllowRemote"/>); 0, the default, picks a free one
    /// (<see cref="RpcAdminListener.Address"/> says which).
    /// </summary>
    public int Port { get; set; }

    /// <summary>
    /// Listen on every interface and answer requests from other machines. Off by default: the page shows endpoint
    /// addresses, peers and method names, which an operator may not want on the network. When on,
    /// <see cref="AccessToken"/> must be set.
    /// </summary>
    public bool AllowRemote { get; set; }

    /// <summary>
    /// A secret every request must carry: <c>Authorization: Bearer {token}</c>, or the cookie that opening
    /// <c>/?access_token={token}</c> once in a browser sets (HttpOnly, SameSite=Strict). Null: no token (only with
    /// loopback-only listening). Compared in constant time.
    /// </summary>
    public string? AccessToken { get; set; }

    internal void Validate()
    {
        if (Port is < 0 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "RpcAdminOptions.Port must be 0 (any free port) to 65535.");
        }

        if (AllowRemote && string.IsNullOrEmpty(AccessToken))
        {
            throw new ArgumentException(
                "RpcAdminOptions.AllowRemote needs an AccessToken: a page reachable from the network must not be open to anyone who finds the port.",
                nameof(AccessToken));
        }

        if (AccessToken is { Length: > 0 and < 16 })
        {
            throw new ArgumentException("RpcAdminOptions.AccessToken must be at least 16 characters (use a random one).", nameof(AccessToken));
        }
    }
}

using System.Collections.Concurrent;
using System.Collections.Generic;

namespace RpcGen.Server.Internal;

/// <summary>The servers of this process that are running (from start to stop), for the admin page.</summary>
internal static class ServerRegistry
{
    private static readonly ConcurrentDictionary<RpcServer, byte> s_servers = new();

    public static void Register(RpcServer server) => s_servers.TryAdd(server, 0);

    public static void Unregister(RpcServer server) => s_servers.TryRemove(server, out _);

    public static ICollection<RpcServer> All => s_servers.Keys;
}

using System;
using System.Collections.Concurrent;
using System.Globalization;
using System.Threading;

namespace RpcGen.Transport;

/// <summary>
/// Named in-process listeners, the way gRPC names its in-process servers: a server listens under a unique name and a
/// client connects by that name, so an in-process endpoint is an address like any other, not a reference to a server.
/// </summary>
internal static class InProcessTransport
{
    private static readonly ConcurrentDictionary<string, Func<TransportConnection>> s_listeners = new(StringComparer.Ordinal);
    private static long s_next;

    /// <summary>Listens under a new unique name; <paramref name="accept"/> opens the server's side and returns the client's.</summary>
    public static string Listen(Func<TransportConnection> accept)
    {
        string name = "server-" + Interlocked.Increment(ref s_next).ToString(CultureInfo.InvariantCulture);
        s_listeners[name] = accept;
        return name;
    }

    /// <summary>Stops listening under <paramref name="name"/>; later connects fail as to a stopped server.</summary>
    public static void Stop(string name) => s_listeners.TryRemove(name, out _);

    /// <summary>Connects to the listener named <paramref name="name"/>.</summary>
    public static TransportConnection Connect(string name) =>
        s_listeners.TryGetValue(name, out Func<TransportConnection>? accept)
            ? accept()
            : throw new RpcException(RpcStatusCode.Unavailable, $"No in-process server is listening as '{name}' (it was disposed).") { NotProcessed = true };
}

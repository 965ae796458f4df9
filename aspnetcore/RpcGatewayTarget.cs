using System;
using System.Threading;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RpcGen.Client;
using RpcGen.Hosting;
using RpcGen.Server;

namespace RpcGen.AspNetCore;

/// <summary>
/// Where a gateway's calls go (docs/gateway.md#two-ways-to-serve): the server in this process, through its dispatcher,
/// interceptors, authenticator and <c>[RpcAuthorize]</c> as a TCP call would; or a cluster, through an
/// <see cref="RpcClient"/> whose balancing, retries and deadlines apply.
/// </summary>
public abstract class RpcGatewayTarget
{
    private protected RpcGatewayTarget()
    {
    }

    /// <summary>The server of <c>AddRpcServer</c> (RpcGen.Hosting) in this process, called in process.</summary>
    public static RpcGatewayTarget InProcess => new InProcessServer(null);

    /// <summary><paramref name="server"/>, in this process, called in process.</summary>
    public static RpcGatewayTarget Server(RpcServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return new InProcessServer(server);
    }

    /// <summary>The client named <paramref name="name"/> by <c>AddRpcClient</c> (RpcGen.Hosting): the gateway forwards to its endpoints.</summary>
    public static RpcGatewayTarget Client(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new NamedClient(name);
    }

    /// <summary><paramref name="client"/>: the gateway forwards to its endpoints. The caller keeps owning it.</summary>
    public static RpcGatewayTarget Client(RpcClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        return new GivenClient(client);
    }

    /// <summary>The client that makes the calls, or null while there is none yet (a server not started).</summary>
    internal abstract RpcClient? Resolve(IServiceProvider services);

    /// <summary>True when a bearer token may go on: in process, or a client that encrypts (or was told it may not).</summary>
    internal abstract bool MayForwardCredentials(RpcClient client);

    private static bool Encrypts(RpcClient client) => client.Options.Tls is not null || client.Options.AllowCredentialsOverPlainText;

    private sealed class InProcessServer : RpcGatewayTarget
    {
        private readonly RpcServer? _given;
        private readonly object _lock = new();
        private Current? _current;

        public InProcessServer(RpcServer? given) => _given = given;

        internal override RpcClient? Resolve(IServiceProvider services)
        {
            RpcServer? server = _given ?? services.GetService<RpcServerHost>()?.Server ??
                throw new InvalidOperationException("MapRpcGateway serves in process, but no RpcServer is registered: call services.AddRpcServer() " +
                    "(RpcGen.Hosting), or pass RpcGatewayTarget.Server(server) or RpcGatewayTarget.Client(...).");
            if (server is null || !server.IsRunning)
            {
                return null;
            }

            if (Volatile.Read(ref _current) is { } known && ReferenceEquals(known.Server, server))
            {
                return known.Client;
            }

            lock (_lock)
            {
                if (_current is { } again && ReferenceEquals(again.Server, server))
                {
                    return again.Client;
                }

                var client = new RpcClient(new RpcClientOptions { Name = "rpcgen-gateway", Endpoints = { server.InProcessEndpoint } });
                RpcClient? previous = _current?.Client;
                Volatile.Write(ref _current, new Current(server, client));
                services.GetService<IHostApplicationLifetime>()?.ApplicationStopped.Register(static c => _ = ((RpcClient)c!).DisposeAsync(), client);
                _ = previous?.DisposeAsync(); // its server stopped: its connection is gone already
                return client;
            }
        }

        internal override bool MayForwardCredentials(RpcClient client) => true;

        private sealed record Current(RpcServer Server, RpcClient Client);
    }

    private sealed class NamedClient(string name) : RpcGatewayTarget
    {
        internal override RpcClient Resolve(IServiceProvider services) =>
            (services.GetService<RpcClientFactory>() ??
                throw new InvalidOperationException(
                    $"MapRpcGateway forwards to the client '{name}', but no client is registered: " +
                    $"call services.AddRpcClient<T>(\"{name}\") (RpcGen.Hosting)."))
            .GetClient(name);

        internal override bool MayForwardCredentials(RpcClient client) => Encrypts(client);
    }

    private sealed class GivenClient(RpcClient client) : RpcGatewayTarget
    {
        internal override RpcClient Resolve(IServiceProvider services) => client;

        internal override bool MayForwardCredentials(RpcClient target) => Encrypts(target);
    }
}

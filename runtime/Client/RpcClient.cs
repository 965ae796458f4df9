using System;
using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RpcGen.Client;

namespace RpcGen;

/// <summary>
/// Calls RPC services on a set of servers. Create one per set of endpoints and keep it for the life of the process: it
/// holds one multiplexed connection per endpoint. Proxies from <see cref="CreateProxy{TService}"/> are thread-safe.
/// </summary>
public sealed class RpcClient : IAsyncDisposable
{
    private readonly EndpointState[] _endpoints;
    private readonly ConcurrentDictionary<Type, object> _proxies = new();
    private readonly CancellationTokenSource _disposal = new();
    private int _next = -1;
    private int _disposed;

    /// <summary>Creates a client. Nothing connects until the first call.</summary>
    public RpcClient(RpcClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        TimeProvider = options.TimeProvider;
        Logger = options.LoggerFactory?.CreateLogger("RpcGen.Client") ?? NullLogger.Instance;
        _endpoints = new EndpointState[options.Endpoints.Count];
        for (int i = 0; i < _endpoints.Length; i++)
        {
            _endpoints[i] = new EndpointState(this, options.Endpoints[i], i);
        }

        Invoker = new RpcCallInvoker(this, options.SerializerOptions ?? RpcDefaults.CreateSerializerOptions());
    }

    /// <summary>The options the client was created with.</summary>
    public RpcClientOptions Options { get; }

    internal TimeProvider TimeProvider { get; }

    internal ILogger Logger { get; }

    internal CancellationToken DisposalToken => _disposal.Token;

    internal RpcCallInvoker Invoker { get; }

    internal int EndpointCount => _endpoints.Length;

    /// <summary>
    /// Returns the generated proxy for <typeparamref name="TService"/>, an interface marked <c>[RpcService]</c>.
    /// The same instance is returned for each call with the same type.
    /// </summary>
    public TService CreateProxy<TService>() where TService : class
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        RpcServiceRegistry.Get<TService>();
        return (TService)_proxies.GetOrAdd(typeof(TService), static (_, invoker) => RpcServiceRegistry.Registration<TService>.CreateProxy!(invoker), Invoker);
    }

    /// <summary>Measures a round trip to <paramref name="endpoint"/> with a ping frame.</summary>
    public async Task<TimeSpan> PingAsync(RpcEndpoint endpoint, CancellationToken cancellationToken = default)
    {
        foreach (EndpointState state in _endpoints)
        {
            if (state.Endpoint.Equals(endpoint))
            {
                Transport.ClientConnection connection = await state.GetConnectionAsync(cancellationToken).ConfigureAwait(false);
                return await connection.PingAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        throw new ArgumentException($"{endpoint} is not one of this client's endpoints.", nameof(endpoint));
    }

    /// <summary>
    /// Picks the next endpoint round-robin, skipping those excluded by <paramref name="tried"/> (bit i for endpoint i)
    /// and, while any other remains, those backing off after connection failures. Lock-free.
    /// </summary>
    internal EndpointState? Pick(ulong tried)
    {
        EndpointState[] endpoints = _endpoints;
        int count = endpoints.Length;
        int start = (int)((uint)Interlocked.Increment(ref _next) % (uint)count);
        EndpointState? fallback = null;
        for (int i = 0; i < count; i++)
        {
            int index = start + i;
            if (index >= count)
            {
                index -= count;
            }

            if (index < 64 && (tried & (1UL << index)) != 0)
            {
                continue;
            }

            EndpointState candidate = endpoints[index];
            if (!candidate.IsBackingOff)
            {
                return candidate;
            }

            fallback ??= candidate;
        }

        return fallback;
    }

    /// <summary>Closes every connection; calls in flight fail with <see cref="RpcStatusCode.Unavailable"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _disposal.Cancel();
        var closing = new Task[_endpoints.Length];
        for (int i = 0; i < _endpoints.Length; i++)
        {
            closing[i] = _endpoints[i].CloseAsync();
        }

        await Task.WhenAll(closing).ConfigureAwait(false);
        _disposal.Dispose();
    }

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;
}

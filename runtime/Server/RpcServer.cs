using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RpcGen.Balancing;
using RpcGen.Descriptors;
using RpcGen.Server.Internal;
using RpcGen.Transport;

namespace RpcGen.Server;

/// <summary>
/// Serves RPC services over TCP (and in process). Map implementations with <see cref="Map{TService}(TService)"/>, then
/// <see cref="StartAsync"/>; <see cref="StopAsync"/> shuts down gracefully: in-flight calls finish, new ones are
/// refused with a status that tells clients it is safe to go elsewhere.
/// </summary>
public sealed partial class RpcServer : IAsyncDisposable
{
    private readonly List<RpcServiceDispatcher> _dispatchers = new();
    private readonly List<Socket> _listeners = new();
    private readonly List<RpcEndpoint> _endpoints = new();
    private readonly ConcurrentDictionary<ServerConnection, byte> _connections = new();
    private readonly ConcurrentBag<RpcServerCall> _callPool = new();
    private readonly RpcDispatcherContext _context;
    private readonly object _stateLock = new();
    private readonly List<Task> _acceptLoops = new();
    private MethodTable? _methods;
    private int _state; // 0 new, 1 started, 2 stopping, 3 stopped
    private int _inProcessCount;
    private string? _inProcessName; // the name this server listens under in process, once InProcessEndpoint was asked for
    private int _inFlight;
    private int _utilizationBasisPoints = -1;
    private int _tcpConnections;
    private ITimer? _heartbeat;
    private Internal.MemoryTrimmer? _trimmer;

    /// <summary>Creates a server; nothing listens until <see cref="StartAsync"/>.</summary>
    public RpcServer(RpcServerOptions? options = null)
    {
        Options = options ?? new RpcServerOptions();
        Options.Validate();
        _tls = Options.Tls?.Build();
        TimeProvider = Options.TimeProvider;
        Logger = Options.LoggerFactory?.CreateLogger("RpcGen.Server") ?? NullLogger.Instance;
        _context = new RpcDispatcherContext(Options.SerializerOptions);
        ReceiveThreads = new ReceiveThreadBudget(() => Options.Limits.MaxReceiveThreads);
        HandOffMonitor = new HandOffMonitor(tick =>
        {
            bool active = false;
            foreach (KeyValuePair<ServerConnection, byte> open in _connections)
            {
                active |= open.Key.CheckHandOff(tick);
            }

            return active;
        });
        RefusalLog = new Telemetry.RefusalLog(Logger, TimeProvider);
        Deduplication = new DeduplicationGate(this);
    }

    /// <summary>The JSON contracts of the mapped services, as their dispatchers resolve them.</summary>
    internal RpcDispatcherContext DispatcherContext => _context;

    /// <summary>Connection-level warnings, one line per kind and interval (a flood of refusals is counted, not logged line by line).</summary>
    internal Telemetry.RefusalLog RefusalLog { get; }

    /// <summary>Hands the read loop of a connection whose inline handler blocks to another thread.</summary>
    internal HandOffMonitor HandOffMonitor { get; }

    /// <summary>The server's connections that receive on a thread of their own (<see cref="RpcServerLimits.MaxReceiveThreads"/>).</summary>
    internal ReceiveThreadBudget ReceiveThreads { get; }

    /// <summary>The open connections, for the hand-off monitor (enumerated without the copy that <c>Keys</c> makes).</summary>
    internal ConcurrentDictionary<ServerConnection, byte> OpenConnections => _connections;

    /// <summary>TCP connections open (counted against MaxConnections).</summary>
    internal int TcpConnections => Volatile.Read(ref _tcpConnections);

    /// <summary>The stores of [Deduplicate] methods' call ids and answers, and the claims running here.</summary>
    internal DeduplicationGate Deduplication { get; }

    /// <summary>
    /// The deduplication stores this server uses, each once (the configured ones and its in-memory one), for health
    /// checks: ask each its <see cref="Deduplication.IDeduplicationStore.GetStatusAsync"/>.
    /// </summary>
    public IReadOnlyList<Deduplication.IDeduplicationStore> DeduplicationStores => Deduplication.Stores;

    /// <summary>The options the server was created with.</summary>
    public RpcServerOptions Options { get; }

    /// <summary>The bound TCP endpoints, known after <see cref="StartAsync"/> (port 0 resolved to the real port).</summary>
    public IReadOnlyList<RpcEndpoint> Endpoints => _endpoints;

    /// <summary>An endpoint that reaches this server without sockets, for tests and benchmarks.</summary>
    public RpcEndpoint InProcessEndpoint
    {
        get
        {
            string? name = Volatile.Read(ref _inProcessName);
            if (name is null)
            {
                string listening = InProcessTransport.Listen(AcceptInProcess);
                name = Interlocked.CompareExchange(ref _inProcessName, listening, null) ?? listening;
                if (!ReferenceEquals(name, listening))
                {
                    InProcessTransport.Stop(listening); // another thread registered first
                }
            }

            return RpcEndpoint.ForInProcess(name);
        }
    }

    /// <summary>The descriptors of the mapped services.</summary>
    public IReadOnlyList<RpcServiceDescriptor> Services
    {
        get
        {
            var services = new RpcServiceDescriptor[_dispatchers.Count];
            for (int i = 0; i < services.Length; i++)
            {
                services[i] = _dispatchers[i].Descriptor;
            }

            return services;
        }
    }

    /// <summary>Calls in flight on all connections; reported to clients in every response for load-aware balancing.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>
    /// Reports how busy the application is, from 0 (idle) to 1 (saturated), for clients' load-aware strategies (they
    /// weigh this server's load by 1 + utilization). <see cref="double.NaN"/> stops reporting.
    /// </summary>
    public void ReportUtilization(double utilization)
    {
        int basisPoints = double.IsNaN(utilization) ? -1 : (int)Math.Round(Math.Clamp(utilization, 0, 1) * 10_000);
        Volatile.Write(ref _utilizationBasisPoints, basisPoints);
    }

    internal void CallStarted() => Interlocked.Increment(ref _inFlight);

    internal void CallEnded() => Interlocked.Decrement(ref _inFlight);

    private int _streams;

    /// <summary>Streaming calls open on all connections.</summary>
    internal int OpenStreams => Volatile.Read(ref _streams);

    /// <summary>Counts a stream about to open; false (and not counted) when the server has <c>MaxConcurrentStreams</c> open.</summary>
    internal bool TryStartStream()
    {
        int open = Interlocked.Increment(ref _streams);
        if (Options.Limits.MaxConcurrentStreams is int max && open > max)
        {
            Interlocked.Decrement(ref _streams);
            return false;
        }

        return true;
    }

    internal void StreamEnded() => Interlocked.Decrement(ref _streams);

    /// <summary>Writes this server's load report (<see cref="Protocol.LoadReport"/>).</summary>
    /// <summary>Calls in flight on the whole server, for the load report in front of every response.</summary>
    internal int InFlightCalls => Volatile.Read(ref _inFlight);

    /// <summary>The utilization the application last reported (basis points), or -1 when none.</summary>
    internal int UtilizationBasisPoints => Volatile.Read(ref _utilizationBasisPoints);

    internal TimeProvider TimeProvider { get; }

    /// <summary>The server in events and on the admin page: <c>server</c> and its first endpoint.</summary>
    internal string DisplayName => _endpoints.Count > 0 ? "server " + _endpoints[0] : "server";

    /// <summary>Each method's calls while the admin page watches (<see cref="Telemetry.LiveStats"/>).</summary>
    internal ConcurrentDictionary<Descriptors.RpcMethodDescriptor, Telemetry.LatencyWindow> LiveMethods { get; } = new();

    private readonly System.Net.Security.SslServerAuthenticationOptions? _tls;

    /// <summary>The interceptors of <see cref="RpcServerOptions.Interceptors"/>, fixed when the server starts.</summary>
    internal RpcServerInterceptor[] Interceptors { get; private set; } = Array.Empty<RpcServerInterceptor>();

    internal ILogger Logger { get; }

    internal MethodTable Methods => _methods!;

    internal bool IsStopping => Volatile.Read(ref _state) >= 2;

    /// <summary>True from <see cref="StartAsync"/> until <see cref="StopAsync"/> begins: the server accepts calls.</summary>
    public bool IsRunning => Volatile.Read(ref _state) == 1;

    /// <summary>True once <see cref="StopAsync"/> has begun (draining or stopped): new calls are refused as not processed.</summary>
    public bool IsStopped => Volatile.Read(ref _state) >= 2;

    /// <summary>Serves <typeparamref name="TService"/> with <paramref name="implementation"/> for every call. Call before starting.</summary>
    public RpcServer Map<TService>(TService implementation) where TService : class
    {
        ArgumentNullException.ThrowIfNull(implementation);
        return Map(RpcServiceActivator<TService>.Singleton(implementation));
    }

    /// <summary>
    /// Serves <typeparamref name="TService"/> with the implementation <paramref name="activator"/> gives each call (one
    /// per call, disposed after it, or one for all). Call before starting.
    /// </summary>
    public RpcServer Map<TService>(RpcServiceActivator<TService> activator) where TService : class
    {
        ArgumentNullException.ThrowIfNull(activator);
        RpcServiceRegistry.EnsureRegistered<TService>();
        lock (_stateLock)
        {
            if (_state != 0)
            {
                throw new InvalidOperationException("Map services before the server starts.");
            }

            RpcServiceDescriptor descriptor = RpcServiceRegistry.Registration<TService>.Descriptor!;
            foreach (RpcServiceDispatcher existing in _dispatchers)
            {
                if (existing.Descriptor.Name == descriptor.Name)
                {
                    throw new InvalidOperationException($"A service named '{descriptor.Name}' is already mapped ({existing.Descriptor.InterfaceType.FullName}).");
                }
            }

            _dispatchers.Add(RpcDispatcherFactory<TService>.Create(activator, _context));
        }

        return this;
    }

    /// <summary>Binds the listen addresses and starts accepting connections.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        lock (_stateLock)
        {
            if (_state != 0)
            {
                throw new InvalidOperationException("The server was already started.");
            }

            if (Options.EnableDescribe)
            {
                var services = new List<RpcServiceDescriptor>(_dispatchers.Count);
                _dispatchers.RemoveAll(d => d is DescribeDispatcher); // a start that failed before added it
                foreach (RpcServiceDispatcher dispatcher in _dispatchers)
                {
                    services.Add(dispatcher.Descriptor.Name != DescribeDispatcher.ServiceName
                        ? dispatcher.Descriptor
                        : throw new InvalidOperationException($"The service name '{DescribeDispatcher.ServiceName}' is RpcGen's own."));
                }

                _dispatchers.Add(new DescribeDispatcher(services, _context, authenticated: Options.Authenticator is not null));
            }

            _methods = new MethodTable(_dispatchers);
            Interceptors = System.Linq.Enumerable.ToArray(Options.Interceptors);
            bool authorizes = Options.Authenticator is not null || System.Linq.Enumerable.Any(_dispatchers,
                d => System.Linq.Enumerable.Any(d.Descriptor.Methods, m => m.Authorization is { AllowAnonymous: false, Roles.Count: > 0 }));
            if (authorizes)
            {
                // Authentication and [RpcAuthorize] first, so no interceptor of the user's sees a call that is refused.
                Interceptors = System.Linq.Enumerable.ToArray(System.Linq.Enumerable.Prepend(Interceptors, new AuthorizationInterceptor(Options.Authenticator, Logger)));
            }
            IList<IPEndPoint> addresses = Options.Listen.Count > 0
                ? Options.Listen
                : new[] { new IPEndPoint(IPAddress.Loopback, 0) };
            try
            {
                foreach (IPEndPoint address in addresses)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                    try
                    {
                        socket.Bind(address);
                        socket.Listen(512);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }

                    _listeners.Add(socket);
                    _endpoints.Add(RpcEndpoint.FromIPEndPoint((IPEndPoint)socket.LocalEndPoint!));
                }
            }
            catch
            {
                foreach (Socket socket in _listeners)
                {
                    socket.Dispose();
                }

                _listeners.Clear();
                _endpoints.Clear();
                throw;
            }

            _state = 1;
            TimeSpan every = ServerLimits.HeartbeatInterval(Options);
            _heartbeat = TimeProvider.CreateTimer(static s => ((RpcServer)s!).Heartbeat(), this, every, every);
            if (Options.Limits.MemoryTrimInterval != Timeout.InfiniteTimeSpan)
            {
                _trimmer = new Internal.MemoryTrimmer(TimeProvider, Options.Limits.MemoryTrimInterval, Logger);
            }
            foreach (Socket socket in _listeners)
            {
                _acceptLoops.Add(AcceptLoopAsync(socket));
            }
        }

        Telemetry.RpcGenLog.ServerListening(Logger, string.Join(", ", _endpoints));
        ServerRegistry.Register(this);
        Telemetry.RecentEvents.Add("server_started", DisplayName, string.Join(", ", _endpoints), "listening");
        return Task.CompletedTask;
    }

    internal RpcServerCall RentCall() => _callPool.TryTake(out RpcServerCall? call) ? call : new RpcServerCall();

    internal void ReturnCall(RpcServerCall call)
    {
        call.Release();
        if (_callPool.Count < 1024)
        {
            _callPool.Add(call);
        }
    }

    /// <summary>
    /// Stops gracefully: stops accepting, sends every connection a goaway, lets calls in flight finish and refuses new
    /// ones as not processed. When <paramref name="cancellationToken"/> fires first, the remaining calls are cancelled
    /// and their connections closed.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        lock (_stateLock)
        {
            if (_state >= 2)
            {
                cancellationToken = CancellationToken.None;
            }

            if (_state == 0)
            {
                _state = 3;
                return;
            }

            _state = Math.Max(_state, 2);
        }

        foreach (Socket listener in _listeners)
        {
            listener.Dispose();
        }

        Telemetry.RpcGenLog.ServerDraining(Logger, InFlight);
        Telemetry.RecentEvents.Add(
            "server_draining", DisplayName, string.Join(", ", _endpoints), $"draining: {InFlight} calls in flight; new calls are refused");

        var connections = new List<ServerConnection>(_connections.Keys);
        var completions = new List<Task>(connections.Count);
        foreach (ServerConnection connection in connections)
        {
            connection.BeginGoAway();
            completions.Add(connection.Completion);
        }

        try
        {
            await Task.WhenAll(completions).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            foreach (ServerConnection connection in connections)
            {
                connection.Close(new OperationCanceledException("The server stopped before the call completed."));
            }
        }

        foreach (ServerConnection connection in _connections.Keys)
        {
            connection.Close(null);
        }

        try
        {
            await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Accept loops end with the listener; their errors were logged.
        }

        // The heartbeat ran through the drain: a connection whose peer stopped reading is still closed by its timeout.
        _heartbeat?.Dispose();
        _trimmer?.Dispose();
        HandOffMonitor.Dispose();
        await Deduplication.DisposeAsync().ConfigureAwait(false);
        Volatile.Write(ref _state, 3);
        Telemetry.RpcGenLog.ServerStopped(Logger);
        ServerRegistry.Unregister(this);
        Telemetry.RecentEvents.Add("server_stopped", DisplayName, string.Join(", ", _endpoints), "stopped");
    }

    /// <summary>Stops at once: connections close and calls in flight fail on their clients with Unavailable.</summary>
    public async ValueTask DisposeAsync()
    {
        using var now = new CancellationTokenSource();
        now.Cancel();
        await StopAsync(now.Token).ConfigureAwait(false);
        if (Volatile.Read(ref _inProcessName) is { } name)
        {
            InProcessTransport.Stop(name);
        }
    }
}

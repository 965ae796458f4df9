using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RpcGen.Balancing;
using RpcGen.Balancing.Internal;
using RpcGen.Client.Internal;
using RpcGen.Descriptors;
using RpcGen.Resilience;
using RpcGen.Resilience.Internal;

namespace RpcGen.Client;

/// <summary>
/// Calls RPC services on a set of servers. Create one per set of endpoints and keep it for the life of the process: it
/// holds one multiplexed connection per endpoint, their health, and the balancers. Proxies from
/// <see cref="CreateProxy{TService}"/> are thread-safe.
/// </summary>
public sealed partial class RpcClient : IAsyncDisposable, IHealthMonitorHost
{
    private readonly object _setLock = new();
    private readonly List<ClientEndpoint> _states = new();
    private readonly ConcurrentDictionary<Type, object> _proxies = new();
    private readonly ConcurrentDictionary<LoadBalanceStrategy, ILoadBalancer> _balancers = new();
    private readonly ConcurrentDictionary<string, CircuitBreakerGroup> _breakers = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _disposal = new();
    private readonly List<RpcClientMethod> _methods = new();
    private volatile PolicyView _policy;
    private readonly IDisposable? _subscription;
    private readonly TaskCompletionSource _firstEndpoints = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _endpointsKnown;
    private volatile Exception? _sourceError;
    private TaskCompletionSource _sourceFailed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConnectionKeepAlive _keepAlive = null!;
    private volatile EndpointSet _set = EndpointSet.Empty;
    private long _totalInFlight;
    private int _nextId;
    private int _disposed;

    /// <summary>Creates a client. Nothing connects until the first call.</summary>
    public RpcClient(RpcClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _policy = new PolicyView(options.Resilience, options.Balancing);
        TimeProvider = options.TimeProvider;
        int receiveThreads = options.Connection.MaxReceiveThreads;
        ReceiveThreads = new Transport.ReceiveThreadBudget(() => receiveThreads);
        Logger = options.LoggerFactory?.CreateLogger("RpcGen.Client") ?? NullLogger.Instance;
        Interceptors = System.Linq.Enumerable.ToArray(options.Interceptors);
        LoadSettings = new EndpointLoadSettings(TimeProvider, options.Balancing.SlowStart, options.Balancing.PeakEwmaDecay);
        Invoker = new RpcCallInvoker(this, options.SerializerOptions);
        RetryBudget = new RetryBudget(options.Resilience.RetryBudget, TimeProvider);
        if (options.EndpointSource is null)
        {
            ApplyEndpoints(new List<RpcEndpoint>(options.Endpoints));
        }

        Health = new HealthMonitor(this, options.Balancing.OutlierDetection, TimeProvider, Logger);
        _keepAlive = new ConnectionKeepAlive(this);
        ClientMetrics.Register(this);

        // Last, since a source may answer at once on this thread or later on another: the first list arrives to a
        // client that is complete. Calls made before it wait for it (WaitForEndpointsAsync).
        _subscription = options.EndpointSource?.Subscribe(ApplyEndpoints, EndpointSourceFailed);
    }

    /// <summary>The options the client was created with.</summary>
    public RpcClientOptions Options { get; }

    /// <summary>Every endpoint the client currently calls, with its load and health.</summary>
    public IReadOnlyList<RpcEndpointState> Endpoints => _set.All;

    internal TimeProvider TimeProvider { get; }

    /// <summary>The client's connections that receive on a thread of their own (<see cref="ConnectionOptions.MaxReceiveThreads"/>).</summary>
    internal Transport.ReceiveThreadBudget ReceiveThreads { get; }

    internal ILogger Logger { get; }

    internal CancellationToken DisposalToken => _disposal.Token;

    internal RpcCallInvoker Invoker { get; }

    internal HealthMonitor Health { get; } = null!;

    /// <summary>The retry budget this client's methods share.</summary>
    internal RetryBudget RetryBudget { get; }

    internal EndpointSet EndpointSet => _set;

    internal long TotalInFlight => Volatile.Read(ref _totalInFlight);

    /// <summary>The interceptors of <see cref="RpcClientOptions.Interceptors"/>, fixed when the client was created.</summary>
    internal RpcClientInterceptor[] Interceptors { get; }

    /// <summary>What the load views of this client's endpoints share (clock, slow start, latency tracking).</summary>
    internal EndpointLoadSettings LoadSettings { get; }

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>
    /// Returns the generated proxy for <typeparamref name="TService"/>, an interface marked <c>[RpcService]</c>.
    /// The same instance is returned for each call with the same type.
    /// </summary>
    public TService CreateProxy<TService>() where TService : class
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        RpcServiceRegistry.EnsureRegistered<TService>();
        return (TService)_proxies.GetOrAdd(typeof(TService), static (_, invoker) => RpcProxyFactory<TService>.Create(invoker), Invoker);
    }

    /// <summary>Measures a round trip to <paramref name="endpoint"/> with a ping frame.</summary>
    public async Task<TimeSpan> PingAsync(RpcEndpoint endpoint, CancellationToken cancellationToken = default)
    {
        foreach (RpcEndpointState state in _set.All)
        {
            if (state.Endpoint.Equals(endpoint))
            {
                ClientConnection connection = await ((ClientEndpoint)state).GetConnectionAsync(cancellationToken).ConfigureAwait(false);
                return await connection.PingAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        throw new ArgumentException($"{endpoint} is not one of this client's endpoints.", nameof(endpoint));
    }

    /// <summary>
    /// The method's effective resilience: its attributes, overridden by <see cref="Resilience.ResilienceOptions.Policies"/> (service
    /// key, then method key). Null policies when the method needs none, so its calls take the direct path.
    /// </summary>
    internal (MethodResilience<AttemptResult>? Policies, int TimeoutMilliseconds) GetResilience(RpcMethodDescriptor method) => GetResilience(method, _policy);

    private (MethodResilience<AttemptResult>? Policies, int TimeoutMilliseconds) GetResilience(RpcMethodDescriptor method, PolicyView view)
    {
        // [Timeout] on the method or service, else the client's default; an override's TimeoutMs wins (0: no deadline).
        int timeout = method.TimeoutMilliseconds > 0 ? method.TimeoutMilliseconds
            : view.DefaultTimeout <= TimeSpan.Zero ? 0 // zero or Timeout.InfiniteTimeSpan: none
            : (int)Math.Ceiling(view.DefaultTimeout.TotalMilliseconds);
        bool idempotent = method.Idempotent, deduplicate = method.Deduplicate;
        RpcRetryPolicy? retry = method.Retry?.Clone();
        RpcHedgingPolicy? hedging = method.Hedging?.Clone();
        RpcCircuitBreakerPolicy? breaker = method.CircuitBreaker?.Clone();
        foreach (string key in new[] { method.Service.Name, method.FullName })
        {
            if (!view.Policies.TryGetValue(key, out RpcPolicyOverride? change))
            {
                continue;
            }

            timeout = change.TimeoutMs ?? timeout;
            idempotent = change.Idempotent ?? idempotent;
            deduplicate = change.Deduplicate ?? deduplicate;
            retry = change.Retry?.Clone() ?? retry;
            hedging = change.Hedging?.Clone() ?? hedging;
            if (change.CircuitBreaker is { } b)
            {
                breaker = b.Clone();
                breaker.PerMethod = key == method.FullName;
            }
        }

        string where = $"Policy of '{method.FullName}'";
        if (timeout < 0)
        {
            throw new ArgumentException($"{where}: TimeoutMs is {timeout}; it must be 0 (none) or more.");
        }

        retry?.Validate(where + " (Retry)");
        hedging?.Validate(where + " (Hedging)");
        breaker?.Validate(where + " (CircuitBreaker)");
        bool streaming = method.Streaming != RpcStreamingKind.None;
        if (streaming)
        {
            // A stream is never hedged (two copies would stream twice), broadcast or deduplicated (RPCGEN023 says so at
            // compile time; configuration cannot add them either).
            hedging = null;
            deduplicate = false;
        }

        if (hedging is { MaxAttempts: > 1 } && !idempotent)
        {
            // Hedging sends a request again while the first may be running: only for idempotent methods.
            ClientTelemetry.HedgingNeedsIdempotent(Logger, method.FullName);
            hedging = null;
        }

        // [Idempotent] and [Deduplicate] matter only to a policy that sends a call more than once.
        Polly.ResiliencePipeline? outer = Options.Resilience.AdditionalResilience?.Invoke(method);
        bool repeats = retry is { MaxAttempts: > 1 } || hedging is { MaxAttempts: > 1 };
        bool broadcast = method.Broadcast && !streaming;
        if (!repeats && !broadcast && breaker is null && outer is null)
        {
            return (null, timeout);
        }

        CircuitBreakerGroup? group = breaker is null
            ? null
            : _breakers.GetOrAdd(breaker.PerMethod ? method.FullName : method.Service.Name,
                static (key, s) => new CircuitBreakerGroup(s.breaker, s.time, key, s.logger, s.owner),
                (breaker, time: TimeProvider, logger: Logger, owner: DisplayName));
        var policies = new MethodResilience<AttemptResult>(new MethodPolicies
        {
            Method = method,
            Idempotent = idempotent,
            Deduplicate = deduplicate,
            Broadcast = broadcast,
            Retry = retry,
            Hedging = hedging,
            Breaker = group,
            Budget = RetryBudget,
            Time = TimeProvider,
            Outer = outer,
            Logger = Logger,
        });
        return (policies, timeout);
    }

    /// <summary>Held while methods are built from the policies and while <see cref="UpdatePolicies"/> replaces them.</summary>
    private readonly object _policyLock = new();

    /// <summary>The factory of the user's balancer a proxy registered for <paramref name="method"/>, or null.</summary>
    internal Func<ILoadBalancer>? UserBalancerOf(RpcMethodDescriptor method)
    {
        lock (_policyLock)
        {
            return _methods.Find(m => ReferenceEquals(m.Descriptor, method) && m.UserBalancer is not null)?.UserBalancer;
        }
    }

    /// <summary>
    /// Builds a method of a proxy under the current policies (<paramref name="create"/> gets its balancer, whether that
    /// is the user's own, and its resilience) and keeps it, so that <see cref="UpdatePolicies"/> can rebuild it.
    /// </summary>
    internal TMethod AddMethod<TMethod>(RpcMethodDescriptor descriptor, Func<ILoadBalancer>? userBalancer,
        Func<ILoadBalancer, bool, (MethodResilience<AttemptResult>?, int), TMethod> create)
        where TMethod : RpcClientMethod
    {
        lock (_policyLock)
        {
            PolicyView view = _policy;
            (ILoadBalancer balancer, bool userOwned) = GetBalancer(descriptor, userBalancer, view);
            TMethod method = create(balancer, userOwned, GetResilience(descriptor, view));
            _methods.Add(method);
            return method;
        }
    }

    /// <summary>
    /// Applies new policy overrides (<see cref="ResilienceOptions.Policies"/>), default deadline
    /// (<see cref="ResilienceOptions.DefaultTimeout"/>) and strategy overrides (<see cref="LoadBalancingOptions.Strategies"/>)
    /// while the client runs, as a configuration reload does: calls that start afterwards use them; calls in flight
    /// finish under the policies they started with. Everything is checked first: when a policy is invalid this throws
    /// <see cref="ArgumentException"/> and nothing changes. The other settings of the two groups are fixed when the
    /// client is created and ignored here; <see cref="Options"/> keeps what the client was created with.
    /// </summary>
    public void UpdatePolicies(ResilienceOptions resilience, LoadBalancingOptions balancing)
    {
        ArgumentNullException.ThrowIfNull(resilience);
        ArgumentNullException.ThrowIfNull(balancing);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        resilience.Validate();
        balancing.Validate();
        var view = new PolicyView(resilience, balancing);
        lock (_policyLock)
        {
            // Build every method's settings first (a bad policy throws here), then swap them all.
            var rebuilt = new (ILoadBalancer Balancer, bool UserOwned, (MethodResilience<AttemptResult>?, int) Policies)[_methods.Count];
            for (int i = 0; i < rebuilt.Length; i++)
            {
                RpcClientMethod method = _methods[i];
                (ILoadBalancer balancer, bool userOwned) = method.UserOwnsBalancer && !view.OverridesStrategy(method.Descriptor)
                    ? (method.Balancer, true) // a user's balancer keeps its state across reloads
                    : GetBalancer(method.Descriptor, method.UserBalancer, view);
                rebuilt[i] = (balancer, userOwned, GetResilience(method.Descriptor, view));
            }

            _policy = view;
            for (int i = 0; i < rebuilt.Length; i++)
            {
                _methods[i].Reconfigure(rebuilt[i].Balancer, rebuilt[i].UserOwned, rebuilt[i].Policies);
            }
        }

        Telemetry.RecentEvents.Add(
            "policies_reloaded", DisplayName, "policies", $"resilience and balancing policies of {_methods.Count} methods replaced");
    }

    /// <summary>The method of a proxy this client built, by its full name (for tests and diagnostics).</summary>
    internal RpcClientMethod? FindMethod(string fullName)
    {
        lock (_policyLock)
        {
            return _methods.Find(m => m.Descriptor.FullName == fullName);
        }
    }

    /// <summary>The policies methods are built from: the options' at creation, then each <see cref="UpdatePolicies"/>'s (copies).</summary>
    private sealed class PolicyView
    {
        public PolicyView(ResilienceOptions resilience, LoadBalancingOptions balancing)
        {
            Policies = new Dictionary<string, RpcPolicyOverride>(resilience.Policies, StringComparer.Ordinal);
            Strategies = new Dictionary<string, LoadBalanceStrategy>(balancing.Strategies, StringComparer.Ordinal);
            DefaultTimeout = resilience.DefaultTimeout;
        }

        public Dictionary<string, RpcPolicyOverride> Policies { get; }

        public Dictionary<string, LoadBalanceStrategy> Strategies { get; }

        public TimeSpan DefaultTimeout { get; }

        public bool OverridesStrategy(RpcMethodDescriptor method) => Strategies.ContainsKey(method.FullName) || Strategies.ContainsKey(method.Service.Name);
    }

    /// <summary>The circuit-breaker groups by scope (service or service/method), for the circuit-state gauge.</summary>
    internal IEnumerable<KeyValuePair<string, CircuitBreakerGroup>> Breakers => _breakers;

    /// <summary>The state of <paramref name="endpoint"/>'s circuit for a service or method key, for diagnostics and tests.</summary>
    internal RpcCircuitState GetCircuitState(string serviceOrMethod, RpcEndpointState endpoint) =>
        _breakers.TryGetValue(serviceOrMethod, out CircuitBreakerGroup? group)
            ? group.StateOf(endpoint.Id)
            : RpcCircuitState.Closed;

    /// <summary>
    /// The balancer of a method: <see cref="LoadBalancingOptions.Strategies"/> for "service/method", then for "service",
    /// then the method's <c>[LoadBalance]</c> (a user type, created by the generated proxy's factory, gets its own instance),
    /// then round-robin.
    /// </summary>
    internal ILoadBalancer GetBalancer(RpcMethodDescriptor method, Func<ILoadBalancer>? userBalancer) => GetBalancer(method, userBalancer, _policy).Balancer;

    /// <summary>The balancer of a method under <paramref name="view"/>, and whether it is the user's own instance.</summary>
    private (ILoadBalancer Balancer, bool UserOwned) GetBalancer(RpcMethodDescriptor method, Func<ILoadBalancer>? userBalancer, PolicyView view)
    {
        if (view.Strategies.TryGetValue(method.FullName, out LoadBalanceStrategy strategy) ||
            view.Strategies.TryGetValue(method.Service.Name, out strategy))
        {
            return (Shared(strategy), false);
        }

        if (userBalancer is { } factory)
        {
            LoadSettings.TrackLatency(); // a user's balancer may read GetLatencyEwma
            return (factory() ?? throw new InvalidOperationException($"The balancer factory of '{method.FullName}' returned null."), true);
        }

        return (Shared(method.LoadBalance ?? LoadBalanceStrategy.RoundRobin), false);
    }

    private ILoadBalancer Shared(LoadBalanceStrategy strategy)
    {
        if (strategy == LoadBalanceStrategy.PeakEwma)
        {
            LoadSettings.TrackLatency();
        }

        return _balancers.GetOrAdd(strategy, static (s, client) =>
            LoadBalancers.Create(s, client.Options.Balancing.Random, client.Options.Balancing.Zone, client.Options.Balancing.ConsistentHashLoadFactor), this);
    }

    internal void CallStarted(RpcEndpointState endpoint)
    {
        Interlocked.Increment(ref _totalInFlight);
        endpoint.CallStarted();
    }

    internal void CallEnded(RpcEndpointState endpoint, long start, CallOutcome outcome, long end = 0)
    {
        Interlocked.Decrement(ref _totalInFlight);
        endpoint.CallEnded(start, end != 0 ? end : TimeProvider.GetTimestamp(), outcome);
        Health.Record(endpoint, outcome);
    }

    /// <summary>False until the client has its first endpoint list (its source may still be resolving).</summary>
    internal bool EndpointsKnown => _endpointsKnown;

    /// <summary>
    /// Waits for the first endpoint list of <see cref="RpcClientOptions.EndpointSource"/>, within the call's
    /// <paramref name="deadline"/>. Returns null once the list is there, else the error that ends the call:
    /// <c>Unavailable</c> (not processed, so a retry policy may try again) when the source failed to resolve,
    /// <c>DeadlineExceeded</c> when the deadline came first, or the cancellation.
    /// </summary>
    internal async ValueTask<Exception?> WaitForEndpointsAsync(string method, long deadline, CancellationToken cancellationToken)
    {
        while (!_endpointsKnown)
        {
            Task failed = Volatile.Read(ref _sourceFailed).Task;
            if (_sourceError is { } error && !_endpointsKnown)
            {
                string source = Options.EndpointSource!.Name;
                string message = $"'{method}' has no endpoints yet: {source} failed to resolve them ({error.Message}); it keeps trying.";
                return new RpcException(RpcStatusCode.Unavailable, message, error)
                {
                    NotProcessed = true,
                };
            }

            TimeSpan wait = Timeout.InfiniteTimeSpan;
            if (deadline != long.MaxValue)
            {
                long now = TimeProvider.GetTimestamp();
                if (now >= deadline)
                {
                    return NoEndpointsInTime(method);
                }

                wait = TimeProvider.GetElapsedTime(now, deadline);
            }

            try
            {
                await Task.WhenAny(_firstEndpoints.Task, failed).WaitAsync(wait, TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return _endpointsKnown ? null : NoEndpointsInTime(method);
            }
            catch (OperationCanceledException ex)
            {
                return ex;
            }
        }

        return null;
    }

    private RpcException NoEndpointsInTime(string method) => new(RpcStatusCode.DeadlineExceeded,
        $"'{method}' reached its deadline before {Options.EndpointSource!.Name} resolved any endpoints.") { NotProcessed = true };

    /// <summary>A failed resolution before the first list: calls waiting for it fail with the reason, and new ones at once.</summary>
    private void EndpointSourceFailed(Exception error)
    {
        if (_endpointsKnown)
        {
            return;
        }

        _sourceError = error;
        Interlocked.Exchange(ref _sourceFailed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Applies a whole new endpoint list: adds, removes (draining) and updates metadata.</summary>
    private void ApplyEndpoints(IReadOnlyList<RpcEndpoint> endpoints)
    {
        var removed = new List<ClientEndpoint>();
        int added = 0;
        lock (_setLock)
        {
            bool initialLoad = !_endpointsKnown; // the first list starts at full weight: there is no traffic to shift yet
            var wanted = new Dictionary<RpcEndpoint, RpcEndpoint>();
            foreach (RpcEndpoint endpoint in endpoints)
            {
                wanted[endpoint] = endpoint;
            }

            foreach (ClientEndpoint state in _states)
            {
                if (state.IsRemoved)
                {
                    continue;
                }

                if (wanted.Remove(state.Endpoint, out RpcEndpoint? updated))
                {
                    state.UpdateEndpoint(updated);
                }
                else
                {
                    state.IsRemoved = true;
                    removed.Add(state);
                }
            }

            long now = TimeProvider.GetTimestamp();
            foreach (RpcEndpoint endpoint in endpoints)
            {
                if (!wanted.Remove(endpoint))
                {
                    continue; // existing, or a duplicate in the list
                }

                var state = new ClientEndpoint(this, LoadSettings, endpoint, _nextId++);
                added++;
                if (!initialLoad)
                {
                    state.BeginSlowStart(now);
                }

                _states.Add(state);
            }

            _states.RemoveAll(static s => s.IsRemoved && s.InFlight == 0 && s.CurrentConnection is null);
            RebuildEndpointSetLocked();
            _endpointsKnown = true;
        }

        _sourceError = null;
        _firstEndpoints.TrySetResult();
        if (added + removed.Count > 0)
        {
            Telemetry.RecentEvents.Add("endpoints_changed", DisplayName, Options.EndpointSource?.Name ?? "endpoints",
                $"{endpoints.Count} endpoints: {added} added, {removed.Count} removed");
        }

        foreach (ClientEndpoint state in removed)
        {
            ClientTelemetry.EndpointRemoved(this, state.Endpoint, state.InFlight);
            state.CurrentConnection?.Drain();
        }
    }

    /// <summary>Publishes a new endpoint set after a health change.</summary>
    internal void RebuildEndpointSet()
    {
        lock (_setLock)
        {
            RebuildEndpointSetLocked();
        }
    }

    Task IHealthMonitorHost.PingAsync(RpcEndpointState endpoint, CancellationToken cancellationToken) =>
        ((ClientEndpoint)endpoint).PingAsync(cancellationToken);

    EndpointSet IHealthMonitorHost.EndpointSet => _set;

    string IHealthMonitorHost.DisplayName => DisplayName;

    /// <summary>The client in events and on the admin page: <c>client {Options.Name}</c>.</summary>
    internal string DisplayName => "client " + (Options.Name ?? "default");

    /// <summary>The methods of the proxies this client built, as they are configured now.</summary>
    internal RpcClientMethod[] Methods
    {
        get
        {
            lock (_policyLock)
            {
                return _methods.ToArray();
            }
        }
    }

    bool IHealthMonitorHost.IsDisposed => IsDisposed;

    void IHealthMonitorHost.RebuildEndpointSet() => RebuildEndpointSet();

    private void RebuildEndpointSetLocked() =>
        _set = EndpointSet.Build(_states, Options.Balancing.OutlierDetection.Enabled ? Options.Balancing.OutlierDetection.PanicThresholdPercent : 0,
            Options.Balancing.PriorityOverprovisioningFactor);

    /// <summary>Closes every connection; calls in flight fail with <see cref="RpcStatusCode.Unavailable"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        ClientMetrics.Unregister(this);
        _subscription?.Dispose();
        EndpointSourceFailed(new ObjectDisposedException(nameof(RpcClient), "The client was disposed."));
        Health.Dispose();
        _keepAlive.Dispose();
        _disposal.Cancel();
        ClientEndpoint[] states;
        lock (_setLock)
        {
            states = _states.ToArray();
        }

        var closing = new Task[states.Length];
        for (int i = 0; i < states.Length; i++)
        {
            closing[i] = states[i].CloseAsync();
        }

        await Task.WhenAll(closing).ConfigureAwait(false);
        _disposal.Dispose();
    }
}

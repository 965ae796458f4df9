using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Descriptors;
using RpcGen.Server.Deduplication;

namespace RpcGen.Server.Internal;

/// <summary>
/// The server's side of <c>[Deduplicate]</c> in front of its stores: picks a method's store, keeps the claims whose
/// handlers run in this process (renewing their leases, waking repeats that wait for them), completes or abandons them,
/// and sweeps the stores. Nothing here runs for calls of methods that are not deduplicated.
/// </summary>
internal sealed class DeduplicationGate : IAsyncDisposable
{
    private const int FirstPollMilliseconds = 10;
    private const int MaxPollMilliseconds = 250;

    private readonly RpcServer _server;
    private readonly DeduplicationOptions _options;
    private readonly MemoryDeduplicationStore _memory; // the server's own, for services without a configured store
    private readonly IDeduplicationStore _default;
    private readonly Dictionary<string, IDeduplicationStore> _byService = new(StringComparer.Ordinal);
    private FileDeduplicationStore? _file; // the built-in file store, when configuration chose it (the server owns it)
    private readonly ConcurrentDictionary<Guid, Run> _runs = new();
    private readonly ConcurrentDictionary<IDeduplicationStore, DeduplicationStoreStatus> _statuses = new();
    private readonly object _timerLock = new();
    private ITimer? _renewTimer;
    private ITimer? _sweepTimer;
    private int _renewing;
    private int _sweeping;
    private bool _disposed;

    public DeduplicationGate(RpcServer server)
    {
        _server = server;
        _options = server.Options.Deduplication;
        _memory = new MemoryDeduplicationStore(_options.Capacity, _options.MaxBytes, _options.Window, server.TimeProvider);
        Lease = _options.Lease;

        // Code's choices first, then the names configuration gave.
        _default = _options.Store ?? (_options.StoreNames.TryGetValue(string.Empty, out string? name) ? Named(name, "Deduplication:Store") : _memory);
        foreach (KeyValuePair<string, string> chosen in _options.StoreNames)
        {
            if (chosen.Key.Length > 0)
            {
                _byService[chosen.Key] = Named(chosen.Value, "Deduplication:Stores:" + chosen.Key);
            }
        }

        foreach (KeyValuePair<string, IDeduplicationStore> chosen in _options.Stores)
        {
            _byService[chosen.Key] = chosen.Value;
        }
    }

    /// <summary>A store by the name configuration gave: "memory", "file", or one of <see cref="DeduplicationOptions.NamedStores"/>.</summary>
    private IDeduplicationStore Named(string name, string key)
    {
        if (string.Equals(name, "memory", StringComparison.OrdinalIgnoreCase))
        {
            return _memory;
        }

        if (_options.NamedStores.TryGetValue(name, out IDeduplicationStore? store))
        {
            return store;
        }

        if (string.Equals(name, "file", StringComparison.OrdinalIgnoreCase))
        {
            if (string.IsNullOrWhiteSpace(_options.File.Directory))
            {
                throw new ArgumentException($"RpcGen configuration '{key}': the file store needs Deduplication:File:Directory.");
            }

            FileDeduplicationStoreOptions file = _options.File;
            return _file ??= new FileDeduplicationStore(new FileDeduplicationStoreOptions
            {
                Directory = file.Directory, Window = file.Window, Capacity = file.Capacity, MaxBytes = file.MaxBytes,
                FlushToDisk = file.FlushToDisk, TimeProvider = _server.TimeProvider,
            });
        }

        string known = string.Join(", ", new[] { "memory", "file" }.Concat(_options.NamedStores.Keys));
        throw new ArgumentException(
            $"RpcGen configuration '{key}': no deduplication store is named '{name}'; known: {known} " +
            "(RpcGen.Hosting's AddDeduplicationStore adds one by name).");
    }

    /// <summary>How long a claim holds without renewal.</summary>
    public TimeSpan Lease { get; }

    /// <summary>The in-memory store of services without a configured one.</summary>
    public MemoryDeduplicationStore Memory => _memory;

    /// <summary>Claims running in this process.</summary>
    public int Running => _runs.Count;

    /// <summary>The store that keeps <paramref name="method"/>'s calls.</summary>
    public IDeduplicationStore StoreFor(RpcMethodDescriptor method) =>
        _byService.Count == 0 ? _default : _byService.TryGetValue(method.Service.Name, out IDeduplicationStore? store) ? store : _default;

    /// <summary>Every store in use, each once: the configured ones, then the server's own.</summary>
    public IReadOnlyList<IDeduplicationStore> Stores
    {
        get
        {
            var stores = new List<IDeduplicationStore>();
            foreach (IDeduplicationStore store in _byService.Values)
            {
                if (!stores.Contains(store))
                {
                    stores.Add(store);
                }
            }

            if (!stores.Contains(_default))
            {
                stores.Add(_default);
            }

            if (!stores.Contains(_memory))
            {
                stores.Add(_memory);
            }

            return stores;
        }
    }

    /// <summary>
    /// What <paramref name="store"/> reports: now when it answers at once (in memory), otherwise what it reported last
    /// (asked again in the background; null until it first answers). For the admin page, which must not wait on a store.
    /// </summary>
    public DeduplicationStoreStatus? StatusNow(IDeduplicationStore store)
    {
        ValueTask<DeduplicationStoreStatus> pending;
        try
        {
            pending = store.GetStatusAsync();
        }
        catch (Exception ex)
        {
            pending = ValueTask.FromException<DeduplicationStoreStatus>(ex);
        }

        if (pending.IsCompleted)
        {
            return _statuses[store] = Read(pending.AsTask());
        }

        _ = RefreshAsync(store, pending);
        return _statuses.TryGetValue(store, out DeduplicationStoreStatus last) ? last : null;

        async Task RefreshAsync(IDeduplicationStore store, ValueTask<DeduplicationStoreStatus> pending)
        {
            try
            {
                _statuses[store] = await pending.ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _statuses[store] = Unhealthy(ex);
            }
        }
    }

    /// <summary>What <paramref name="store"/> reports; an unhealthy status with the error when it fails to.</summary>
    public static async Task<DeduplicationStoreStatus> CheckAsync(IDeduplicationStore store, CancellationToken cancellationToken)
    {
        try
        {
            return await store.GetStatusAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return Unhealthy(ex);
        }
    }

    private static DeduplicationStoreStatus Read(Task<DeduplicationStoreStatus> completed) =>
        completed.IsCompletedSuccessfully ? completed.Result : Unhealthy(completed.Exception?.InnerException ?? completed.Exception!);

    private static DeduplicationStoreStatus Unhealthy(Exception ex) =>
        new(DeduplicationStoreHealth.Unhealthy, $"does not answer: {ex.GetType().Name}: {ex.Message}", -1, 0, -1, 0, 0);

    /// <summary>Keeps a claim this process runs: renewed until completed or abandoned; repeats that arrive meanwhile wait for it.</summary>
    public Run Track(IDeduplicationStore store, Guid callId, string method, long token, RpcServerCall call)
    {
        var run = new Run(store, callId, method, token, call, call.Generation);
        _runs[callId] = run;
        StartTimers(store);
        return run;
    }

    /// <summary>Stores a run's answer, then wakes the repeats waiting for it here.</summary>
    public void Complete(Run run, DeduplicationRecord record)
    {
        ValueTask<bool> stored;
        try
        {
            stored = run.Store.CompleteAsync(run.CallId, run.Token, record);
        }
        catch (Exception ex)
        {
            stored = ValueTask.FromException<bool>(ex);
        }

        if (stored.IsCompletedSuccessfully)
        {
            Finished(run, stored.Result);
        }
        else
        {
            _ = FinishWhenStoredAsync(run, stored, "complete");
        }
    }

    /// <summary>Forgets a run whose handler gave up, so a repeat may run it.</summary>
    public void Abandon(Run run)
    {
        ValueTask abandoned;
        try
        {
            abandoned = run.Store.AbandonAsync(run.CallId, run.Token);
        }
        catch (Exception ex)
        {
            abandoned = ValueTask.FromException(ex);
        }

        if (abandoned.IsCompletedSuccessfully)
        {
            Finished(run);
        }
        else
        {
            _ = FinishWhenStoredAsync(run, AsBool(abandoned), "abandon");
        }

        static async ValueTask<bool> AsBool(ValueTask pending)
        {
            await pending.ConfigureAwait(false);
            return true;
        }
    }

    /// <summary>
    /// Waits before a repeat claims its id again: until the run of this process that holds it ends, or a poll interval
    /// (growing with <paramref name="attempt"/>) for a run elsewhere. Throws when <paramref name="cancellationToken"/> fires.
    /// </summary>
    public async Task WaitAsync(Guid callId, int attempt, CancellationToken cancellationToken)
    {
        var poll = TimeSpan.FromMilliseconds(Math.Min(FirstPollMilliseconds << Math.Min(attempt, 8), MaxPollMilliseconds));
        if (_runs.TryGetValue(callId, out Run? run))
        {
            try
            {
                await run.Done.WaitAsync(poll, _server.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Claim again: the run may have ended elsewhere (a takeover), or its store may answer now.
            }
        }
        else
        {
            await Task.Delay(poll, _server.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task FinishWhenStoredAsync(Run run, ValueTask<bool> pending, string operation)
    {
        bool held = true;
        try
        {
            held = await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Telemetry.RpcGenLog.DeduplicationStoreFailed(_server.Logger, ex, run.Store.Name, operation, run.CallId, run.Method);
        }

        Finished(run, held);
    }

    private void Finished(Run run, bool held = true)
    {
        if (!held)
        {
            Telemetry.RpcGenLog.DeduplicationClaimLost(_server.Logger, run.CallId, run.Method, run.Store.Name);
        }

        _runs.TryRemove(new KeyValuePair<Guid, Run>(run.CallId, run));
        run.Signal();
    }

    private void StartTimers(IDeduplicationStore store)
    {
        if (_sweepTimer is not null && (_renewTimer is not null || store is MemoryDeduplicationStore))
        {
            return;
        }

        lock (_timerLock)
        {
            if (_disposed)
            {
                return;
            }

            TimeProvider time = _server.TimeProvider;
            _sweepTimer ??= time.CreateTimer(static s => ((DeduplicationGate)s!).Sweep(), this, _options.SweepInterval, _options.SweepInterval);
            if (store is not MemoryDeduplicationStore && _renewTimer is null)
            {
                TimeSpan every = Lease / 3;
                _renewTimer = time.CreateTimer(static s => ((DeduplicationGate)s!).Renew(), this, every, every);
            }
        }
    }

    /// <summary>Renews the lease of every claim this process runs in a store that expires them.</summary>
    private void Renew()
    {
        if (Interlocked.Exchange(ref _renewing, 1) == 1)
        {
            return; // the last round is still going
        }

        _ = RenewAllAsync();
    }

    private async Task RenewAllAsync()
    {
        try
        {
            foreach (Run run in _runs.Values)
            {
                if (run.Store is MemoryDeduplicationStore)
                {
                    continue;
                }

                bool held;
                try
                {
                    held = await run.Store.RenewAsync(run.CallId, run.Token, Lease).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    Telemetry.RpcGenLog.DeduplicationStoreFailed(_server.Logger, ex, run.Store.Name, "renew", run.CallId, run.Method);
                    continue; // the store may answer at the next round, before the lease runs out
                }

                if (!held && _runs.TryGetValue(run.CallId, out Run? current) && ReferenceEquals(current, run) && !run.IsDone)
                {
                    // Another run took the id over: this handler's answer would not be kept, so it is told to stop.
                    Telemetry.RpcGenLog.DeduplicationClaimLost(_server.Logger, run.CallId, run.Method, run.Store.Name);
                    run.Call.Cancel(run.Generation);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _renewing, 0);
        }
    }

    private void Sweep()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }

        _ = SweepAllAsync();
    }

    private async Task SweepAllAsync()
    {
        try
        {
            foreach (IDeduplicationStore store in Stores)
            {
                try
                {
                    await store.SweepAsync().ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    Telemetry.RpcGenLog.DeduplicationStoreFailed(_server.Logger, ex, store.Name, "sweep", Guid.Empty, "*");
                }

                _statuses[store] = await CheckAsync(store, CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    public async ValueTask DisposeAsync()
    {
        ITimer? renew, sweep;
        lock (_timerLock)
        {
            _disposed = true;
            renew = _renewTimer;
            sweep = _sweepTimer;
            _renewTimer = null;
            _sweepTimer = null;
        }

        if (renew is not null)
        {
            await renew.DisposeAsync().ConfigureAwait(false);
        }

        if (sweep is not null)
        {
            await sweep.DisposeAsync().ConfigureAwait(false);
        }

        if (_file is not null)
        {
            await _file.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The store of services without their own, and which services chose which store.</summary>
    public IDeduplicationStore Default => _default;

    /// <summary>The stores chosen per service (code and configuration).</summary>
    public IReadOnlyDictionary<string, IDeduplicationStore> ByService => _byService;

    /// <summary>A claim whose handler runs in this process.</summary>
    internal sealed class Run
    {
        private readonly object _lock = new();
        private TaskCompletionSource? _done;
        private bool _signalled;

        public Run(IDeduplicationStore store, Guid callId, string method, long token, RpcServerCall call, int generation)
        {
            Store = store;
            CallId = callId;
            Method = method;
            Token = token;
            Call = call;
            Generation = generation;
        }

        public IDeduplicationStore Store { get; }

        public Guid CallId { get; }

        public string Method { get; }

        public long Token { get; }

        public RpcServerCall Call { get; }

        public int Generation { get; }

        /// <summary>What the handler sees of the claim (RpcCallContext.Deduplication), made on first use.</summary>
        public RpcDeduplicationClaim? Claim { get; set; }

        public bool IsDone
        {
            get
            {
                lock (_lock)
                {
                    return _signalled;
                }
            }
        }

        /// <summary>Completes when the run's answer is stored (or the claim abandoned).</summary>
        public Task Done
        {
            get
            {
                lock (_lock)
                {
                    if (_signalled)
                    {
                        return Task.CompletedTask;
                    }

                    return (_done ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }
            }
        }

        public void Signal()
        {
            TaskCompletionSource? done;
            lock (_lock)
            {
                _signalled = true;
                done = _done;
            }

            done?.TrySetResult();
        }
    }
}

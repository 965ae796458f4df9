using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RpcGen.Telemetry;

namespace RpcGen.Balancing;

/// <summary>
/// The base of endpoint sources that read a registry in the background (etcd, DNS, Microsoft.Extensions.ServiceDiscovery,
/// one of your own): a subclass overrides <see cref="ResolveAsync"/> only. The base owns what they share:
/// <list type="bullet">
/// <item>Resolving starts with the first <see cref="Subscribe(Action{IReadOnlyList{RpcEndpoint}}, Action{Exception})"/>
/// (an <see cref="Client.RpcClient"/> subscribes when it is created, without waiting) or <see cref="WaitForEndpointsAsync"/>,
/// and runs until <see cref="DisposeAsync"/>. Nothing blocks: a client's calls wait for the first list, each within its
/// own deadline.</item>
/// <item>Each list is sorted and handed to the subscribers only when it differs from the last one (endpoints, weight,
/// priority, zone, tags), so an unchanged answer drains or warms up nothing.</item>
/// <item>A failed resolution keeps the last list in use: <see cref="IsStale"/> and <see cref="LastError"/> say so, a
/// warning is logged once per outage and an information when it ends, and <see cref="ResolveAsync"/> runs again after
/// <see cref="RetryDelay"/>. Before the first list, subscribers hear of each failure, so a client's calls fail at once
/// with its reason (<c>Unavailable</c>) instead of waiting for a list that is not coming.</item>
/// </list>
/// </summary>
public abstract class RpcEndpointSource : IRpcEndpointSource, IRpcEndpointSourceStatus, IAsyncDisposable
{
    private static readonly Comparison<RpcEndpoint> s_byAddress = static (a, b) => string.CompareOrdinal(a.ToString(), b.ToString());

    private readonly object _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _nextAnswer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Subscription[] _subscribers = Array.Empty<Subscription>();
    private RpcEndpoint[]? _endpoints;
    private Exception? _lastError;
    private Task? _loop;
    private bool _disposed;

    /// <summary>A source called <paramref name="name"/> (for logs and metrics, e.g. <c>etcd:calc</c>).</summary>
    /// <param name="name">The source's name.</param>
    /// <param name="retryDelay">How long to wait after a failed resolution before the next one.</param>
    /// <param name="logger">Where staleness is logged; none when null.</param>
    /// <param name="timeProvider">The clock of <paramref name="retryDelay"/>; the system's when null.</param>
    protected RpcEndpointSource(string name, TimeSpan retryDelay, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (retryDelay <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(retryDelay), retryDelay, "The retry delay of an endpoint source must be positive.");
        }

        Name = name;
        RetryDelay = retryDelay;
        Logger = logger ?? NullLogger.Instance;
        TimeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>How long the source waits after a failed resolution before the next one.</summary>
    public TimeSpan RetryDelay { get; }

    /// <summary>The endpoints known now, sorted by address (empty before the first list).</summary>
    public IReadOnlyList<RpcEndpoint> Endpoints => Volatile.Read(ref _endpoints) ?? Array.Empty<RpcEndpoint>();

    /// <summary>True once a list was resolved (it may be empty: servers may register later).</summary>
    public bool HasResolved => Volatile.Read(ref _endpoints) is not null;

    /// <inheritdoc />
    public bool IsStale => Volatile.Read(ref _lastError) is not null;

    /// <inheritdoc />
    public Exception? LastError => Volatile.Read(ref _lastError);

    /// <summary>When the source last had an answer from its registry (for the admin page's staleness); null before the first.</summary>
    internal DateTimeOffset? LastAnswer { get; private set; }

    /// <summary>Where the subclass logs.</summary>
    protected ILogger Logger { get; }

    /// <summary>The clock the subclass waits on (TTLs, polling intervals).</summary>
    protected TimeProvider TimeProvider { get; }

    /// <summary>
    /// Resolves the endpoints and hands each list it learns to <see cref="Publish"/>; returns when the source should
    /// resolve again (a polling source waits for its interval or TTL before returning; a watching source returns when its
    /// watch must start over). Throws when resolution fails: the base keeps the last list and calls it again after
    /// <see cref="RetryDelay"/>. Ends with an <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> fires (the source is disposed).
    /// </summary>
    protected abstract Task ResolveAsync(CancellationToken cancellationToken);

    /// <summary>Releases what the subclass holds, after the resolution loop ended. Nothing by default.</summary>
    protected virtual ValueTask DisposeCoreAsync() => default;

    /// <summary>Applies a whole list (sorted here; ignored when it equals the current one) and ends any staleness.</summary>
    protected void Publish(IEnumerable<RpcEndpoint> endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        RpcEndpoint[] sorted = new List<RpcEndpoint>(endpoints).ToArray();
        Array.Sort(sorted, s_byAddress);
        lock (_lock)
        {
            bool recovered = _lastError is not null;
            _lastError = null;
            LastAnswer = DateTimeOffset.UtcNow;
            if (_endpoints is null || !SameSet(sorted, _endpoints))
            {
                Volatile.Write(ref _endpoints, sorted);
                foreach (Subscription subscriber in _subscribers)
                {
                    subscriber.OnChange(sorted);
                }
            }

            if (recovered)
            {
                RpcGenLog.EndpointSourceRecovered(Logger, Name, sorted.Length);
                RecentEvents.Add("discovery_recovered", "discovery " + Name, Name, $"recovered: {sorted.Length} endpoints");
            }

            _nextAnswer.TrySetResult(); // completed for good: there is a list from now on
        }
    }

    /// <inheritdoc />
    public IDisposable Subscribe(Action<IReadOnlyList<RpcEndpoint>> onChange) => Subscribe(onChange, static _ => { });

    /// <inheritdoc />
    public IDisposable Subscribe(Action<IReadOnlyList<RpcEndpoint>> onChange, Action<Exception> onError)
    {
        ArgumentNullException.ThrowIfNull(onChange);
        ArgumentNullException.ThrowIfNull(onError);
        var subscription = new Subscription(this, onChange, onError);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var subscribers = new Subscription[_subscribers.Length + 1];
            _subscribers.CopyTo(subscribers, 0);
            subscribers[^1] = subscription;
            _subscribers = subscribers;
            if (_endpoints is { } known)
            {
                onChange(known);
            }
            else if (_lastError is { } error)
            {
                onError(error);
            }

            StartLocked();
        }

        return subscription;
    }

    /// <summary>
    /// Starts resolving when nothing started it yet and waits for the first list: returns at once when there is one.
    /// Throws an <see cref="InvalidOperationException"/> with the reason when the last resolution failed and no list
    /// came yet (at once, or when the resolution in progress fails); the source keeps trying in the background.
    /// </summary>
    public async Task WaitForEndpointsAsync(CancellationToken cancellationToken = default)
    {
        Task answered;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            StartLocked();
            answered = _endpoints is not null || _lastError is not null ? Task.CompletedTask : _nextAnswer.Task;
        }

        await answered.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (Volatile.Read(ref _endpoints) is null && Volatile.Read(ref _lastError) is { } error)
        {
            throw new InvalidOperationException($"{Name} has no endpoints: {error.Message}", error);
        }
    }

    private void StartLocked()
    {
        _loop ??= Task.Run(() => RunAsync(_stop.Token));
    }

    private async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await ResolveAsync(stop).ConfigureAwait(false);
                continue; // it returned: resolve again now
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Failed(ex);
            }

            try
            {
                await Task.Delay(RetryDelay, TimeProvider, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Failed(Exception error)
    {
        lock (_lock)
        {
            if (_lastError is null)
            {
                RpcGenLog.EndpointSourceStale(Logger, Name, error.Message, _endpoints?.Length ?? 0, RetryDelay);
                RecentEvents.Add("discovery_stale", "discovery " + Name, Name,
                    $"stale: {error.Message}; its last {_endpoints?.Length ?? 0} endpoints stay in use");
            }

            _lastError = error;
            if (_endpoints is null)
            {
                foreach (Subscription subscriber in _subscribers)
                {
                    subscriber.OnError(error);
                }

                // Waiters of this resolution hear of its failure; later ones wait for the next resolution.
                TaskCompletionSource answered = _nextAnswer;
                _nextAnswer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                answered.TrySetResult();
            }
        }
    }

    /// <summary>True when both sorted lists hold the same endpoints with the same metadata.</summary>
    private static bool SameSet(RpcEndpoint[] a, RpcEndpoint[] b)
    {
        if (a.Length != b.Length)
        {
            return false;
        }

        for (int i = 0; i < a.Length; i++)
        {
            if (!a[i].Equals(b[i]) || a[i].Priority != b[i].Priority || a[i].Weight != b[i].Weight || a[i].Zone != b[i].Zone || !SameTags(a[i], b[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool SameTags(RpcEndpoint a, RpcEndpoint b)
    {
        if (a.Tags.Count != b.Tags.Count)
        {
            return false;
        }

        foreach (KeyValuePair<string, string> tag in a.Tags)
        {
            if (!b.Tags.TryGetValue(tag.Key, out string? value) || value != tag.Value)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Stops resolving; the last list stays with the subscribers.</summary>
    public async ValueTask DisposeAsync()
    {
        Task? loop;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            loop = _loop;
        }

        _stop.Cancel();
        if (loop is not null)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException)
            {
                // The loop ends with the cancellation.
            }
        }

        await DisposeCoreAsync().ConfigureAwait(false);
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class Subscription : IDisposable
    {
        private readonly RpcEndpointSource _source;

        public Subscription(RpcEndpointSource source, Action<IReadOnlyList<RpcEndpoint>> onChange, Action<Exception> onError)
        {
            _source = source;
            OnChange = onChange;
            OnError = onError;
        }

        public Action<IReadOnlyList<RpcEndpoint>> OnChange { get; }

        public Action<Exception> OnError { get; }

        public void Dispose()
        {
            lock (_source._lock)
            {
                _source._subscribers = Array.FindAll(_source._subscribers, s => s != this);
            }
        }
    }
}

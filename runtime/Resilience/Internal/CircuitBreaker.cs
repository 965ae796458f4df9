using System;
using System.Collections.Concurrent;
using System.Threading;
using Microsoft.Extensions.Logging;
using RpcGen.Balancing;

namespace RpcGen.Resilience.Internal;

/// <summary>
/// The circuits of one <c>[CircuitBreaker]</c> scope (a method, or a whole service), one per endpoint. Polly.Core's
/// breaker guards executions that pass through it, so it cannot tell a balancer beforehand which endpoints to skip;
/// here the balancer asks <see cref="IsBlocked"/> for each candidate, which is why these circuits are RpcGen's own.
/// While no circuit is open, picking pays nothing for them.
/// </summary>
internal sealed class CircuitBreakerGroup
{
    private readonly ConcurrentDictionary<int, EndpointCircuit> _circuits = new();
    private readonly RpcCircuitBreakerPolicy _policy;
    private readonly TimeProvider _time;
    private readonly long _bucketTicks;
    private readonly long _breakTicks;
    private int _notClosed;

    private readonly string _scope;
    private readonly ILogger? _logger;
    private readonly string _owner;

    /// <summary>The policy the group's circuits follow.</summary>
    public RpcCircuitBreakerPolicy Policy => _policy;

    public CircuitBreakerGroup(RpcCircuitBreakerPolicy policy, TimeProvider time, string scope = "", ILogger? logger = null, string owner = "client")
    {
        _scope = scope;
        _logger = logger;
        _owner = owner;
        _policy = policy;
        _time = time;
        _bucketTicks = Math.Max(1, policy.SamplingDurationMs * time.TimestampFrequency / 1000 / EndpointCircuit.Buckets);
        _breakTicks = Math.Max(1, policy.BreakDurationMs * time.TimestampFrequency / 1000);
    }

    /// <summary>True when some circuit is open or half-open, so candidates must be filtered.</summary>
    public bool AnyNotClosed => Volatile.Read(ref _notClosed) > 0;

    public RpcCircuitState StateOf(int endpointId) =>
        _circuits.TryGetValue(endpointId, out EndpointCircuit? circuit) ? circuit.State : RpcCircuitState.Closed;

    /// <summary>
    /// True when a call must not go to the endpoint now: its circuit is open and the break has not passed, or it is
    /// half-open with its probe still out.
    /// </summary>
    public bool IsBlocked(int endpointId, long now) =>
        _circuits.TryGetValue(endpointId, out EndpointCircuit? circuit) && circuit.IsBlocked(now, _breakTicks);

    /// <summary>An attempt goes to the endpoint: if its break has passed, this attempt is the half-open probe.</summary>
    public void OnAttempt(int endpointId, long now)
    {
        if (Volatile.Read(ref _notClosed) > 0 && _circuits.TryGetValue(endpointId, out EndpointCircuit? circuit))
        {
            circuit.TryStartProbe(now);
        }
    }

    /// <summary>Counts an attempt's outcome; opens or closes the circuit when the counts say so.</summary>
    public void Record(RpcEndpointState endpoint, bool failure, long now)
    {
        int endpointId = endpoint.Id;
        EndpointCircuit circuit = _circuits.GetOrAdd(endpointId, static (_, group) => new EndpointCircuit(group._bucketTicks), this);
        int change = circuit.Record(failure, now, _policy);
        if (change != 0)
        {
            Interlocked.Add(ref _notClosed, change);
            if (change > 0)
            {
                ResilienceTelemetry.CircuitOpened(_logger, _owner, endpoint.Endpoint, _scope, _policy.BreakDurationMs);
            }
            else
            {
                ResilienceTelemetry.CircuitClosed(_logger, _owner, endpoint.Endpoint, _scope);
            }
        }
    }

    private sealed class EndpointCircuit
    {
        public const int Buckets = 10;
        private readonly long _bucketTicks;
        private readonly int[] _calls = new int[Buckets];
        private readonly int[] _failures = new int[Buckets];
        private readonly long[] _epochs = new long[Buckets];
        private RpcCircuitState _state;
        private long _openedAt;
        private long _probeStartedAt;

        public EndpointCircuit(long bucketTicks) => _bucketTicks = bucketTicks;

        public RpcCircuitState State
        {
            get
            {
                lock (this)
                {
                    return _state;
                }
            }
        }

        public bool IsBlocked(long now, long breakTicks)
        {
            lock (this)
            {
                return _state switch
                {
                    RpcCircuitState.Open => now - _openedAt < breakTicks,
                    // A probe that never reported (its attempt was lost) stops blocking after another break time.
                    RpcCircuitState.HalfOpen => now - _probeStartedAt < breakTicks,
                    _ => false,
                };
            }
        }

        public void TryStartProbe(long now)
        {
            lock (this)
            {
                if (_state == RpcCircuitState.Open || _state == RpcCircuitState.HalfOpen)
                {
                    _state = RpcCircuitState.HalfOpen;
                    _probeStartedAt = now;
                }
            }
        }

        /// <summary>Returns +1 when the circuit left Closed, -1 when it came back to Closed, 0 otherwise.</summary>
        public int Record(bool failure, long now, RpcCircuitBreakerPolicy policy)
        {
            lock (this)
            {
                switch (_state)
                {
                    case RpcCircuitState.HalfOpen:
                        if (failure)
                        {
                            _state = RpcCircuitState.Open;
                            _openedAt = now;
                            return 0;
                        }

                        _state = RpcCircuitState.Closed;
                        Array.Clear(_calls);
                        Array.Clear(_failures);
                        return -1;
                    case RpcCircuitState.Open:
                        return 0; // a late outcome of a call sent before the circuit opened
                }

                long epoch = now / _bucketTicks;
                int index = (int)(epoch % Buckets);
                if (_epochs[index] != epoch)
                {
                    _epochs[index] = epoch;
                    _calls[index] = 0;
                    _failures[index] = 0;
                }

                _calls[index]++;
                if (failure)
                {
                    _failures[index]++;
                }
                else
                {
                    return 0;
                }

                int calls = 0, failures = 0;
                for (int i = 0; i < Buckets; i++)
                {
                    if (epoch - _epochs[i] < Buckets)
                    {
                        calls += _calls[i];
                        failures += _failures[i];
                    }
                }

                if (calls >= policy.MinimumThroughput && failures >= policy.FailureRatio * calls)
                {
                    _state = RpcCircuitState.Open;
                    _openedAt = now;
                    return 1;
                }

                return 0;
            }
        }
    }
}

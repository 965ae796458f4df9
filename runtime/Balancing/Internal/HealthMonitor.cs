using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace RpcGen.Balancing.Internal;

/// <summary>
/// Outlier detection for one client: ejects endpoints on consecutive failures or outlying success rates, never more than
/// the allowed share; re-admits them when their time is up or, for endpoints ejected because they could not be reached,
/// when an active ping succeeds; keeps the endpoint set the
/// balancers see up to date. Driven by a <see cref="TimeProvider"/> timer, so tests move time instead of sleeping.
/// </summary>
internal sealed class HealthMonitor : IDisposable
{
    private readonly IHealthMonitorHost _host;
    private readonly OutlierDetectionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly object _lock = new();
    private readonly ITimer? _timer;
    private long _nextSuccessRateReview;
    private int _pinging;

    public HealthMonitor(IHealthMonitorHost host, OutlierDetectionOptions options, TimeProvider time, ILogger logger)
    {
        _host = host;
        _options = options;
        _time = time;
        _logger = logger;
        if (_options.Enabled)
        {
            _nextSuccessRateReview = time.GetTimestamp() + Ticks(_options.SuccessRateInterval);
            _timer = time.CreateTimer(static s => ((HealthMonitor)s!).Tick(), this, _options.Interval, _options.Interval);
        }
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    public void Record(RpcEndpointState endpoint, CallOutcome outcome)
    {
        if (!_options.Enabled)
        {
            return;
        }

        EndpointHealth health = endpoint.Health;
        switch (outcome)
        {
            case CallOutcome.Success:
                Interlocked.Increment(ref health.WindowSuccesses);
                if (Volatile.Read(ref health.ConsecutiveFailures) != 0)
                {
                    Interlocked.Exchange(ref health.ConsecutiveFailures, 0);
                }

                break;
            case CallOutcome.Failure:
            case CallOutcome.ConnectFailure:
                health.LastFailureWasConnect = outcome == CallOutcome.ConnectFailure;
                Interlocked.Increment(ref health.WindowFailures);
                if (Interlocked.Increment(ref health.ConsecutiveFailures) >= _options.ConsecutiveFailures)
                {
                    TryEject(endpoint, $"{_options.ConsecutiveFailures} consecutive failures", pingCanReadmit: health.LastFailureWasConnect);
                }

                break;
        }
    }

    private bool TryEject(RpcEndpointState endpoint, string reason, bool pingCanReadmit)
    {
        lock (_lock)
        {
            EndpointHealth health = endpoint.Health;
            if (health.IsEjected || endpoint.IsRemoved)
            {
                return false;
            }

            RpcEndpointState[] all = _host.EndpointSet.All;
            int ejected = 0;
            foreach (RpcEndpointState other in all)
            {
                if (other.Health.IsEjected)
                {
                    ejected++;
                }
            }

            bool allowed = all.Length >= 2 && (ejected == 0 || (ejected + 1) * 100 <= all.Length * _options.MaxEjectionPercent);
            if (!allowed)
            {
                return false;
            }

            health.EjectionCount++;
            double seconds = Math.Min(
                _options.BaseEjectionTime.TotalSeconds * Math.Pow(2, Math.Min(health.EjectionCount - 1, 30)),
                _options.MaxEjectionTime.TotalSeconds);
            health.EjectedUntil = _time.GetTimestamp() + Ticks(TimeSpan.FromSeconds(seconds));
            health.PingCanReadmit = pingCanReadmit;
            health.EjectionReason = reason;
            health.IsEjected = true;
            Telemetry.RpcGenLog.Ejected(_logger, endpoint.Endpoint, seconds, reason);
            Telemetry.RecentEvents.Add("ejected", _host.DisplayName, endpoint.Endpoint.ToString(), $"ejected for {seconds:0.#} s: {reason}");
        }

        _host.RebuildEndpointSet();
        return true;
    }

    private void Readmit(RpcEndpointState endpoint, string reason)
    {
        lock (_lock)
        {
            EndpointHealth health = endpoint.Health;
            if (!health.IsEjected)
            {
                return;
            }

            health.IsEjected = false;
            Interlocked.Exchange(ref health.ConsecutiveFailures, 0);
            endpoint.BeginSlowStart(_time.GetTimestamp());
            Telemetry.RpcGenLog.Readmitted(_logger, endpoint.Endpoint, reason);
            Telemetry.RecentEvents.Add("readmitted", _host.DisplayName, endpoint.Endpoint.ToString(), reason);
        }

        _host.RebuildEndpointSet();
    }

    /// <summary>The periodic review: expired ejections, active pings, success-rate outliers.</summary>
    internal void Tick()
    {
        if (_host.IsDisposed)
        {
            return;
        }

        long now = _time.GetTimestamp();
        RpcEndpointState[] all = _host.EndpointSet.All;
        foreach (RpcEndpointState endpoint in all)
        {
            EndpointHealth health = endpoint.Health;
            if (!health.IsEjected)
            {
                continue;
            }

            if (now >= health.EjectedUntil)
            {
                Readmit(endpoint, "its ejection time passed");
            }
            else if (_options.ActiveHealthChecks && health.PingCanReadmit)
            {
                _ = PingAsync(endpoint);
            }
        }

        if (now >= _nextSuccessRateReview)
        {
            _nextSuccessRateReview = now + Ticks(_options.SuccessRateInterval);
            ReviewSuccessRates(all);
        }
    }

    private async Task PingAsync(RpcEndpointState endpoint)
    {
        if (Interlocked.Increment(ref _pinging) > 16)
        {
            Interlocked.Decrement(ref _pinging);
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(_options.Interval, _time);
            await _host.PingAsync(endpoint, timeout.Token).ConfigureAwait(false);
            Readmit(endpoint, "it answered a ping");
        }
        catch (Exception)
        {
            // Still down: it stays ejected until its time is up.
        }
        finally
        {
            Interlocked.Decrement(ref _pinging);
        }
    }

    private void ReviewSuccessRates(RpcEndpointState[] all)
    {
        var rates = new List<(RpcEndpointState Endpoint, double Rate)>();
        foreach (RpcEndpointState endpoint in all)
        {
            long successes = Interlocked.Exchange(ref endpoint.Health.WindowSuccesses, 0);
            long failures = Interlocked.Exchange(ref endpoint.Health.WindowFailures, 0);
            long total = successes + failures;
            if (total >= _options.SuccessRateMinimumRequests && !endpoint.Health.IsEjected)
            {
                rates.Add((endpoint, (double)successes / total));
            }
        }

        if (rates.Count < 3)
        {
            return; // too few to tell an outlier from the norm
        }

        double mean = 0;
        foreach ((_, double rate) in rates)
        {
            mean += rate;
        }

        mean /= rates.Count;
        double variance = 0;
        foreach ((_, double rate) in rates)
        {
            variance += (rate - mean) * (rate - mean);
        }

        double threshold = mean - (_options.SuccessRateStdevFactor * Math.Sqrt(variance / rates.Count));
        foreach ((RpcEndpointState endpoint, double rate) in rates)
        {
            if (rate < threshold)
            {
                TryEject(endpoint, $"success rate {rate:P1} is below {threshold:P1} (mean {mean:P1})", pingCanReadmit: false);
            }
        }
    }

    public void Dispose()
    {
        _timer?.Dispose();
    }
}

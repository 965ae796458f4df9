using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Polly;
using RpcGen.Balancing;
using RpcGen.Protocol;
using RpcGen.Resilience;
using RpcGen.Serialization;

namespace RpcGen.Client;

/// <summary>
/// The calls of methods with policies: [Broadcast] (one attempt per endpoint), [Hedging] (Polly.Core's hedging
/// strategy), and [Retry] (the first attempt directly; Polly.Core's retry strategy only after a failure a retry could
/// fix). The gates (idempotency, budget, deadline, pushback) are <see cref="MethodResilience"/>'s; the user's own
/// pipeline (<c>AdditionalResilience</c>) runs around all of it and sees failures as exceptions.
/// </summary>
internal sealed class ResilientCalls
{
    private readonly RpcClient _client;
    private readonly CallAttempts _attempts;

    public ResilientCalls(RpcClient client, CallAttempts attempts)
    {
        _client = client;
        _attempts = attempts;
    }

    public ValueTask<AttemptResult> SendAsync<TArguments>(
        RpcClientMethod method, MethodResilience<AttemptResult> resilience, TArguments arguments, CallDeadline deadline, ulong hashKey, RpcOutgoingCall? outgoing,
        CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        if (resilience.Outer is { } outer)
        {
            return outer.ExecuteAsync(
                static async (s, token) =>
                {
                    AttemptResult result = await s.Calls.ResilientSendAsync(s.Method, s.Resilience, s.Arguments, s.Deadline, s.HashKey, s.Outgoing, token).ConfigureAwait(false);
                    result.ThrowIfFailed(); // the user's strategies see failures the way they expect them
                    return result;
                },
                new OuterState<TArguments>(this, method, resilience, arguments, deadline, hashKey, outgoing),
                cancellationToken);
        }

        return ResilientSendAsync(method, resilience, arguments, deadline, hashKey, outgoing, cancellationToken);
    }

    private readonly record struct OuterState<TArguments>(
        ResilientCalls Calls, RpcClientMethod Method, MethodResilience<AttemptResult> Resilience, TArguments Arguments, CallDeadline Deadline, ulong HashKey,
        RpcOutgoingCall? Outgoing);

    private readonly record struct AttemptState<TArguments>(CallAttempts Attempts, RpcClientMethod Method, TArguments Arguments, ulong HashKey, RpcOutgoingCall? Outgoing);

    /// <summary>Broadcast, hedging, or a first attempt that enters the retry pipeline only when it failed retryably.</summary>
    private async ValueTask<AttemptResult> ResilientSendAsync<TArguments>(
        RpcClientMethod method, MethodResilience<AttemptResult> resilience, TArguments arguments, CallDeadline deadline, ulong hashKey, RpcOutgoingCall? outgoing,
        CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        if (resilience.Broadcast)
        {
            return await BroadcastAsync(method, resilience, arguments, deadline.Timestamp, outgoing, cancellationToken).ConfigureAwait(false);
        }

        bool hedged = resilience.HedgingPipeline is not null && !deadline.ServingRetry;
        CallState state = CallState.Rent(resilience, deadline.Timestamp, deadline.ServingRetry, cancellationToken, concurrent: hedged);
        try
        {
            if (resilience.Retry is not null || hedged)
            {
                resilience.Budget.Deposit(deadline.Start);
            }

            if (hedged)
            {
                return await ThroughPipelineAsync(resilience.HedgingPipeline!, method, arguments, hashKey, state, outgoing, cancellationToken).ConfigureAwait(false);
            }

            AttemptResult first = await _attempts.RunAsync(method, arguments, deadline.Timestamp, hashKey, state, state.NextAttempt(), resilience, cancellationToken, outgoing: outgoing).ConfigureAwait(false);
            if (first.Error is null || resilience.RetryPipeline is null || !resilience.ShouldRetry(state, first.Error, 0, commit: false))
            {
                return first;
            }

            state.ReplayFirst = first.Error;
            return await ThroughPipelineAsync(resilience.RetryPipeline, method, arguments, hashKey, state, outgoing, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CallState.Return(state);
        }
    }

    /// <summary>Runs attempts through a Polly.Core pipeline (retry or hedging) with the call's state in its context.</summary>
    private async ValueTask<AttemptResult> ThroughPipelineAsync<TArguments>(
        ResiliencePipeline<AttemptResult> pipeline, RpcClientMethod method, TArguments arguments, ulong hashKey, CallState state, RpcOutgoingCall? outgoing,
        CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        ResilienceContext context = ResilienceContextPool.Shared.Get(method.Descriptor.FullName, cancellationToken);
        try
        {
            MethodResilience.Attach(context, state);
            Outcome<AttemptResult> outcome = await pipeline.ExecuteOutcomeAsync(
                static (c, s) => PipelineAttemptAsync(c, s),
                context,
                new AttemptState<TArguments>(_attempts, method, arguments, hashKey, outgoing)).ConfigureAwait(false);
            if (outcome.Exception is HedgeSkippedException && Volatile.Read(ref state.LastError) is { } real)
            {
                // A skipped hedge ended the call after a sent attempt failed: the caller sees that attempt's error.
                return AttemptResult.Failed(real);
            }

            return outcome.Exception is { } error ? AttemptResult.Failed(error) : outcome.Result;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>One attempt made by a pipeline: the replayed first failure, or a new attempt on an endpoint not tried yet.</summary>
    private static async ValueTask<Outcome<AttemptResult>> PipelineAttemptAsync<TArguments>(ResilienceContext context, AttemptState<TArguments> s)
        where TArguments : struct, IRpcArguments
    {
        CallState state = MethodResilience.State(context);
        if (state.ReplayFirst is { } first)
        {
            state.ReplayFirst = null;
            return Outcome.FromException<AttemptResult>(first);
        }

        var resilience = (MethodResilience<AttemptResult>)state.Resilience;
        int attempt = state.NextAttempt();
        if (attempt > 0 && state.Concurrent && !resilience.MayHedge(state))
        {
            // A handled failure, so that the hedging strategy keeps waiting for the attempts already out.
            return Outcome.FromException<AttemptResult>(new HedgeSkippedException(s.Method.Descriptor.FullName));
        }

        AttemptResult result = await s.Attempts.RunAsync(s.Method, s.Arguments, state.Deadline, s.HashKey, state, attempt, resilience, context.CancellationToken, outgoing: s.Outgoing).ConfigureAwait(false);
        if (result.Error is { } error)
        {
            Volatile.Write(ref state.LastError, error);
            return Outcome.FromException<AttemptResult>(error);
        }

        return Outcome.FromResult(result);
    }

    /// <summary>Calls every available endpoint at once; fails with every endpoint's error if any failed.</summary>
    private async ValueTask<AttemptResult> BroadcastAsync<TArguments>(
        RpcClientMethod method, MethodResilience<AttemptResult> resilience, TArguments arguments, long deadline, RpcOutgoingCall? outgoing, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        RpcEndpointState[] endpoints = _client.EndpointSet.Candidates;
        if (endpoints.Length == 0)
        {
            return AttemptResult.Failed(new RpcException(RpcStatusCode.Unavailable, $"No endpoint could take the broadcast of '{method.Descriptor.FullName}'.") { NotProcessed = true });
        }

        var attempts = new Task<AttemptResult>[endpoints.Length];
        for (int i = 0; i < endpoints.Length; i++)
        {
            attempts[i] = _attempts.RunAsync(method, arguments, deadline, 0, null, 0, resilience, cancellationToken, endpoints[i], outgoing).AsTask();
        }

        AttemptResult[] results = await Task.WhenAll(attempts).ConfigureAwait(false); // attempts return failures, never throw

        var errors = new List<RpcException>();
        AttemptResult? first = null;
        for (int i = 0; i < results.Length; i++)
        {
            AttemptResult result = results[i];
            if (result.Error is null)
            {
                if (first is null)
                {
                    first = result;
                }
                else
                {
                    result.Dispose();
                }

                continue;
            }

            if (result.Error is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                first?.Dispose();
                DisposeAll(results, i + 1);
                return result;
            }

            errors.Add(result.Error as RpcException ?? new RpcException(RpcStatusCode.Unknown, result.Error.Message, result.Error) { Endpoint = endpoints[i].Endpoint.ToString() });
        }

        if (errors.Count > 0)
        {
            first?.Dispose();
            return AttemptResult.Failed(new RpcBroadcastException(method.Descriptor.FullName, endpoints.Length, errors));
        }

        return first!.Value;
    }

    private static void DisposeAll(AttemptResult[] results, int from)
    {
        for (int i = from; i < results.Length; i++)
        {
            results[i].Dispose();
        }
    }
}

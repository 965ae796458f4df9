using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Polly;
using RpcGen.Balancing;
using RpcGen.Resilience.Internal;
using RpcGen.Serialization;

namespace RpcGen.Client.Internal;

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

    public ValueTask<AttemptResult> SendAsync<TArguments>(ClientCall call, TArguments arguments)
        where TArguments : struct, IRpcArguments =>
        call.Policies!.Outer is { } outer ? ThroughUserPipelineAsync(outer, call, arguments) : ResilientSendAsync(call, arguments);

    /// <summary>
    /// The call inside the user's own pipeline, which sees failures as exceptions and may run the call again: each
    /// execution gets a context of its own, with the pipeline's token (its own timeout, its own cancellation).
    /// </summary>
    private async ValueTask<AttemptResult> ThroughUserPipelineAsync<TArguments>(ResiliencePipeline outer, ClientCall call, TArguments arguments)
        where TArguments : struct, IRpcArguments
    {
        try
        {
            return await outer.ExecuteAsync(
                static async (s, token) =>
                {
                    AttemptResult result = await s.Calls.ResilientSendAsync(s.Call.ForExecution(token), s.Arguments).ConfigureAwait(false);
                    result.ThrowIfFailed(); // the user's strategies see failures the way they expect them
                    return result;
                },
                new OuterState<TArguments>(this, call, arguments),
                call.CancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ClientCall.Return(call, CallOwner.UserPipeline);
        }
    }

    private readonly record struct OuterState<TArguments>(ResilientCalls Calls, ClientCall Call, TArguments Arguments);

    private readonly record struct AttemptState<TArguments>(CallAttempts Attempts, ClientCall Call, TArguments Arguments);

    /// <summary>Broadcast, hedging, or a first attempt that enters the retry pipeline only when it failed retryably.</summary>
    private async ValueTask<AttemptResult> ResilientSendAsync<TArguments>(ClientCall call, TArguments arguments)
        where TArguments : struct, IRpcArguments
    {
        MethodResilience<AttemptResult> resilience = call.Policies!;
        try
        {
            if (resilience.Broadcast)
            {
                return await BroadcastAsync(call, arguments).ConfigureAwait(false);
            }

            bool hedged = call.Concurrent;
            if (resilience.Retry is not null || hedged)
            {
                resilience.Budget.Deposit(call.Start);
            }

            if (hedged)
            {
                return await ThroughPipelineAsync(resilience.HedgingPipeline!, call, arguments).ConfigureAwait(false);
            }

            AttemptResult first = await _attempts.RunAsync(call, arguments, call.NextAttempt(), call.CancellationToken).ConfigureAwait(false);
            if (first.Error is null || resilience.RetryPipeline is null || !resilience.ShouldRetry(call, first.Error, 0, commit: false))
            {
                return first;
            }

            call.ReplayFirst = first.Error;
            return await ThroughPipelineAsync(resilience.RetryPipeline, call, arguments).ConfigureAwait(false);
        }
        finally
        {
            ClientCall.Return(call, CallOwner.Policies);
        }
    }

    /// <summary>Runs attempts through a Polly.Core pipeline (retry or hedging) with the call in its context.</summary>
    private async ValueTask<AttemptResult> ThroughPipelineAsync<TArguments>(ResiliencePipeline<AttemptResult> pipeline, ClientCall call, TArguments arguments)
        where TArguments : struct, IRpcArguments
    {
        ResilienceContext context = ResilienceContextPool.Shared.Get(call.Method.Descriptor.FullName, call.CancellationToken);
        try
        {
            MethodResilience.Attach(context, call);
            Outcome<AttemptResult> outcome = await pipeline.ExecuteOutcomeAsync(
                static (c, s) => PipelineAttemptAsync(c, s),
                context,
                new AttemptState<TArguments>(_attempts, call, arguments)).ConfigureAwait(false);
            if (outcome.Exception is HedgeSkippedException && Volatile.Read(ref call.LastError) is { } real)
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
        ClientCall call = s.Call;
        if (call.ReplayFirst is { } first)
        {
            call.ReplayFirst = null;
            return Outcome.FromException<AttemptResult>(first);
        }

        int attempt = call.NextAttempt();
        if (attempt > 0 && call.Concurrent && !call.Policies!.MayHedge(call))
        {
            // A handled failure, so that the hedging strategy keeps waiting for the attempts already out.
            return Outcome.FromException<AttemptResult>(new HedgeSkippedException(call.Method.Descriptor.FullName));
        }

        AttemptResult result = await s.Attempts.RunAsync(call, s.Arguments, attempt, context.CancellationToken).ConfigureAwait(false);
        if (result.Error is { } error)
        {
            Volatile.Write(ref call.LastError, error);
            return Outcome.FromException<AttemptResult>(error);
        }

        return Outcome.FromResult(result);
    }

    /// <summary>Calls every available endpoint at once; fails with every endpoint's error if any failed.</summary>
    private async ValueTask<AttemptResult> BroadcastAsync<TArguments>(ClientCall call, TArguments arguments)
        where TArguments : struct, IRpcArguments
    {
        RpcClientMethod method = call.Method;
        CancellationToken cancellationToken = call.CancellationToken;
        if (!_client.EndpointsKnown
            && await _client.WaitForEndpointsAsync(method.Descriptor.FullName, call.Deadline, cancellationToken).ConfigureAwait(false)
                is { } noEndpoints)
        {
            return AttemptResult.Failed(noEndpoints);
        }

        RpcEndpointState[] endpoints = _client.EndpointSet.Candidates;
        if (endpoints.Length == 0)
        {
            return AttemptResult.Failed(new RpcException(RpcStatusCode.Unavailable, $"No endpoint could take the broadcast of '{method.Descriptor.FullName}'.") { NotProcessed = true });
        }

        var attempts = new Task<AttemptResult>[endpoints.Length];
        for (int i = 0; i < endpoints.Length; i++)
        {
            attempts[i] = _attempts.RunAsync(call, arguments, 0, cancellationToken, endpoints[i]).AsTask();
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

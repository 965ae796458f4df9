using System;
using System.Diagnostics.CodeAnalysis;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Hedging;
using Polly.Retry;
using RpcGen.Descriptors;

namespace RpcGen.Resilience.Internal;

/// <summary>
/// <see cref="MethodResilience"/> with the Polly.Core pipelines that run its retries and hedges over attempts that return
/// <typeparamref name="TResult"/> (the client's attempt result; failures travel as <c>Outcome.FromException</c>).
/// </summary>
internal sealed class MethodResilience<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] TResult> : MethodResilience
{
    public MethodResilience(MethodPolicies policies)
        : base(policies)
    {
        ILogger log = Logger;
        RpcMethodDescriptor method = policies.Method;
        TimeProvider time = policies.Time;
        bool broadcast = policies.Broadcast;
        if (Retry is not null && !broadcast)
        {
            RetryPipeline = new ResiliencePipelineBuilder<TResult> { Name = method.FullName, TimeProvider = time }
                .AddRetry(new RetryStrategyOptions<TResult>
                {
                    Name = "RpcGen.Retry",
                    MaxRetryAttempts = Retry.MaxAttempts - 1,
                    BackoffType = DelayBackoffType.Constant,
                    Delay = TimeSpan.Zero,
                    UseJitter = false,
                    ShouldHandle = static args => new ValueTask<bool>(
                        args.Outcome.Exception is { } error && State(args.Context).Resilience!.ShouldRetry(State(args.Context), error, args.AttemptNumber, commit: true)),
                    DelayGenerator = static args => new ValueTask<TimeSpan?>(State(args.Context).NextDelay),
                    OnRetry = args =>
                    {
                        ResilienceTelemetry.Retrying(log, method.FullName, args.AttemptNumber + 2, args.RetryDelay, args.Outcome.Exception);
                        return default;
                    },
                })
                .Build();
        }

        if (Hedging is not null && !broadcast)
        {
            RpcHedgingPolicy policy = Hedging;
            HedgingPipeline = new ResiliencePipelineBuilder<TResult> { Name = method.FullName, TimeProvider = time }
                .AddHedging(new HedgingStrategyOptions<TResult>
                {
                    Name = "RpcGen.Hedging",
                    MaxHedgedAttempts = policy.MaxAttempts - 1,
                    Delay = TimeSpan.FromMilliseconds(policy.DelayMs),
                    DelayGenerator = policy.AdaptiveDelay ? args => new ValueTask<TimeSpan>(AdaptiveHedgingDelay()) : null,
                    ShouldHandle = static args => new ValueTask<bool>(
                        args.Outcome.Exception is { } error && State(args.Context).Resilience!.IsHedgeable(error)),
                    OnHedging = args =>
                    {
                        ResilienceTelemetry.Hedging(log, method.FullName, args.AttemptNumber + 1);
                        return default;
                    },
                })
                .Build();
        }
    }

    public ResiliencePipeline<TResult>? RetryPipeline { get; }

    public ResiliencePipeline<TResult>? HedgingPipeline { get; }
}

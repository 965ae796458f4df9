using BenchmarkDotNet.Attributes;
using Polly;
using Polly.Retry;

namespace RpcGen.Benchmarks;

/// <summary>What entering a Polly.Core retry pipeline costs on the success path, against calling the attempt directly.</summary>
[MemoryDiagnoser]
public class PollyOverheadBenchmarks
{
    private ResiliencePipeline<int> _pipeline = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pipeline = new ResiliencePipelineBuilder<int>()
            .AddRetry(new RetryStrategyOptions<int>
            {
                MaxRetryAttempts = 3,
                ShouldHandle = static args => new ValueTask<bool>(args.Outcome.Exception is not null),
                DelayGenerator = static args => new ValueTask<TimeSpan?>(TimeSpan.FromMilliseconds(10)),
            })
            .Build();
    }

    private static ValueTask<Outcome<int>> Attempt(ResilienceContext context, int state) => new(Outcome.FromResult(state + 1));

    [Benchmark(Baseline = true)]
    public ValueTask<Outcome<int>> Direct() => Attempt(null!, 1);

    [Benchmark]
    public async ValueTask<int> Pipeline()
    {
        ResilienceContext context = ResilienceContextPool.Shared.Get(CancellationToken.None);
        try
        {
            Outcome<int> outcome = await _pipeline.ExecuteOutcomeAsync(static (c, s) => Attempt(c, s), context, 1).ConfigureAwait(false);
            return outcome.Result;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }
}

namespace RpcGen.Tests.Support;

[RpcService("ledger"), Timeout(5000)]
public interface ILedger
{
    /// <summary>Posts an amount; runs once per call id. A negative amount fails with FailedPrecondition and a trailer.</summary>
    [Deduplicate] Task<string> PostAsync(string account, int amount, CancellationToken cancellationToken = default);

    /// <summary>Returns nothing: the stored answer is an empty result.</summary>
    [Deduplicate] Task VoidAsync(string account, CancellationToken cancellationToken = default);
}

/// <summary>Counts every handler run; <see cref="Gate"/> holds handlers; each answer carries its run number as a trailer.</summary>
public sealed class Ledger : ILedger
{
    private int _runs;

    /// <summary>Handler runs, all methods.</summary>
    public int Runs => Volatile.Read(ref _runs);

    /// <summary>Awaited by every handler after its run is counted (with the handler's token).</summary>
    public Func<CancellationToken, Task>? Gate { get; set; }

    public async Task<string> PostAsync(string account, int amount, CancellationToken cancellationToken = default)
    {
        int run = Interlocked.Increment(ref _runs);
        RpcCallContext context = RpcCallContext.Current!;
        context.ResponseHeaders.Add("x-run-header", run.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (Gate is { } gate)
        {
            await gate(cancellationToken);
        }

        context.ResponseTrailers.Add("x-run", run.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (amount < 0)
        {
            throw new RpcException(RpcStatusCode.FailedPrecondition, $"{account}: a negative amount")
            {
                Trailers = new RpcMetadata { { "reason", "negative" } },
            };
        }

        return $"{account}:{amount}:run{run}";
    }

    public async Task VoidAsync(string account, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _runs);
        if (Gate is { } gate)
        {
            await gate(cancellationToken);
        }
    }
}


namespace RpcGen.Resilience.Internal;

/// <summary>
/// A hedge that was not sent (the deadline was too close, or the retry budget was spent). The hedging strategy treats
/// it as a failure another attempt may fix, so it goes on waiting for the attempts already sent; a caller sees it only
/// if every sent attempt failed first.
/// </summary>
internal sealed class HedgeSkippedException : RpcException
{
    public HedgeSkippedException(string method)
        : base(RpcStatusCode.Unavailable, $"A hedged attempt of '{method}' was skipped: the deadline is too close or the retry budget is spent.")
    {
        NotProcessed = true;
    }
}

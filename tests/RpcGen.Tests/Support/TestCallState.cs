namespace RpcGen.Tests.Support;

/// <summary>A call's resilience state on its own, for unit tests of the gates (the client's is its per-call context).</summary>
internal sealed class TestCallState : CallState
{
    public TestCallState(MethodResilience resilience, long deadline, bool servingRetry) =>
        Begin(resilience, deadline, servingRetry, default, concurrent: true);
}

using System.Runtime.CompilerServices;

namespace RpcGen.Tests.Support;

/// <summary>
/// Gives the thread pool back the two workers the test host keeps for the whole run: VSTest's message loop blocks one in
/// <c>Socket.Poll</c> and xunit's runner blocks one waiting for the assembly's tests. The pool counts them as busy, so on
/// a two-core machine (a minimum of two workers) every other work item waited for the pool's starvation injection, about
/// half a second: a timer callback or a continuation of a test's server ran late, and a test that allows a margin of 5×
/// (a 500 ms idle timeout beside items 100 ms apart) failed. Two more workers restore what a process that does not host
/// tests has; they hide nothing of RpcGen's own (a handler that blocks is still handed off: HandOff tests).
/// </summary>
internal static class TestHostThreads
{
    [ModuleInitializer]
    internal static void CompensateForTheTestHost()
    {
        ThreadPool.GetMinThreads(out int workers, out int completionPorts);
        ThreadPool.SetMinThreads(workers + 2, completionPorts);
    }
}

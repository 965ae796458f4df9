using Xunit;

namespace RpcGen.Tests.Support;

/// <summary>
/// Tests that measure latency or spread, and tests that run whole builds: they run one at a time, after the parallel
/// ones, so neither disturbs the other's timing.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial";
}

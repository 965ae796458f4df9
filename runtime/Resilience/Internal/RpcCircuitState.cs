namespace RpcGen.Resilience.Internal;

/// <summary>The state of an endpoint's circuit.</summary>
internal enum RpcCircuitState
{
    /// <summary>Calls flow; failures are counted.</summary>
    Closed,

    /// <summary>The balancer skips the endpoint until the break time has passed.</summary>
    Open,

    /// <summary>The break time passed; one probe call decides whether the circuit closes or opens again.</summary>
    HalfOpen,
}

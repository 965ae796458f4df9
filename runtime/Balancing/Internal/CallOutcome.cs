namespace RpcGen.Balancing.Internal;

/// <summary>How one attempt ended, as outlier detection counts it.</summary>
internal enum CallOutcome
{
    /// <summary>The server answered (a result, or an application error such as NotFound).</summary>
    Success,
    /// <summary>The call failed on a working connection: connection lost mid-call, Unavailable, or deadline exceeded.</summary>
    Failure,
    /// <summary>No connection: cannot connect, or the connection did not answer a keepalive ping.</summary>
    ConnectFailure,
    /// <summary>Says nothing about the endpoint (the caller cancelled).</summary>
    Neutral,
}

namespace RpcGen.Balancing.Internal;

/// <summary>One endpoint's health counters.</summary>
internal sealed class EndpointHealth
{
    public int ConsecutiveFailures;
    public long WindowSuccesses;
    public long WindowFailures;
    public int EjectionCount;
    public long EjectedUntil;

    /// <summary>Why the endpoint was last ejected (for the admin page).</summary>
    public string? EjectionReason;

    /// <summary>The last failure was a connection that could not be made or kept (a ping that succeeds disproves it).</summary>
    public volatile bool LastFailureWasConnect;

    /// <summary>
    /// Ejected because it could not be reached, so a successful ping re-admits it early. An endpoint ejected for calls
    /// that failed on a working connection stays out for its ejection time: a ping proves the socket, not the service.
    /// </summary>
    public bool PingCanReadmit;
    private volatile bool _ejected;

    public bool IsEjected
    {
        get => _ejected;
        set => _ejected = value;
    }
}

namespace RpcGen;

/// <summary>The outcome of a call. The numbers are gRPC's, so that logs and dashboards read the same.</summary>
public enum RpcStatusCode : ushort
{
    /// <summary>The call succeeded.</summary>
    OK = 0,
    /// <summary>The call was cancelled, usually by the caller.</summary>
    Cancelled = 1,
    /// <summary>An error with no better code.</summary>
    Unknown = 2,
    /// <summary>The arguments could not be read or were rejected by the handler.</summary>
    InvalidArgument = 3,
    /// <summary>The deadline passed before the call completed.</summary>
    DeadlineExceeded = 4,
    /// <summary>A requested entity was not found.</summary>
    NotFound = 5,
    /// <summary>An entity the call tried to create already exists.</summary>
    AlreadyExists = 6,
    /// <summary>The caller may not perform the call.</summary>
    PermissionDenied = 7,
    /// <summary>A limit was hit, for example the maximum frame size.</summary>
    ResourceExhausted = 8,
    /// <summary>The system is not in a state the call requires.</summary>
    FailedPrecondition = 9,
    /// <summary>The call was aborted, usually by a concurrency conflict.</summary>
    Aborted = 10,
    /// <summary>A value was outside its valid range.</summary>
    OutOfRange = 11,
    /// <summary>The server does not know the service or method.</summary>
    Unimplemented = 12,
    /// <summary>The server failed while handling the call.</summary>
    Internal = 13,
    /// <summary>The server could not be reached or is shutting down. Usually transient.</summary>
    Unavailable = 14,
    /// <summary>Data was lost or corrupted.</summary>
    DataLoss = 15,
    /// <summary>The caller has no valid credentials.</summary>
    Unauthenticated = 16,
}

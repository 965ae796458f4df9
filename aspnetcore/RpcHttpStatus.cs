using Microsoft.AspNetCore.Http;

namespace RpcGen.AspNetCore;

/// <summary>
/// The one fixed table between RpcGen's status codes and HTTP, Connect's (connectrpc.com/docs/protocol#error-codes): the
/// HTTP status of an error response and the code's name in its JSON body (docs/gateway.md#errors).
/// </summary>
public static class RpcHttpStatus
{
    /// <summary>The HTTP status an error with <paramref name="code"/> is answered with.</summary>
    public static int ToHttpStatus(RpcStatusCode code) => code switch
    {
        RpcStatusCode.OK => StatusCodes.Status200OK,
        RpcStatusCode.Cancelled => 499, // Client Closed Request, as nginx and Connect have it
        RpcStatusCode.InvalidArgument => StatusCodes.Status400BadRequest,
        RpcStatusCode.DeadlineExceeded => StatusCodes.Status504GatewayTimeout,
        RpcStatusCode.NotFound => StatusCodes.Status404NotFound,
        RpcStatusCode.AlreadyExists => StatusCodes.Status409Conflict,
        RpcStatusCode.PermissionDenied => StatusCodes.Status403Forbidden,
        RpcStatusCode.ResourceExhausted => StatusCodes.Status429TooManyRequests,
        RpcStatusCode.FailedPrecondition => StatusCodes.Status400BadRequest,
        RpcStatusCode.Aborted => StatusCodes.Status409Conflict,
        RpcStatusCode.OutOfRange => StatusCodes.Status400BadRequest,
        RpcStatusCode.Unimplemented => StatusCodes.Status501NotImplemented,
        RpcStatusCode.Unavailable => StatusCodes.Status503ServiceUnavailable,
        RpcStatusCode.Unauthenticated => StatusCodes.Status401Unauthorized,
        _ => StatusCodes.Status500InternalServerError, // Unknown, Internal, DataLoss, and codes this version does not know
    };

    /// <summary>The code's name in an error body: Connect's snake_case names (<c>not_found</c>, <c>invalid_argument</c>, ...).</summary>
    public static string ToCodeName(RpcStatusCode code) => code switch
    {
        RpcStatusCode.OK => "ok",
        RpcStatusCode.Cancelled => "canceled",
        RpcStatusCode.Unknown => "unknown",
        RpcStatusCode.InvalidArgument => "invalid_argument",
        RpcStatusCode.DeadlineExceeded => "deadline_exceeded",
        RpcStatusCode.NotFound => "not_found",
        RpcStatusCode.AlreadyExists => "already_exists",
        RpcStatusCode.PermissionDenied => "permission_denied",
        RpcStatusCode.ResourceExhausted => "resource_exhausted",
        RpcStatusCode.FailedPrecondition => "failed_precondition",
        RpcStatusCode.Aborted => "aborted",
        RpcStatusCode.OutOfRange => "out_of_range",
        RpcStatusCode.Unimplemented => "unimplemented",
        RpcStatusCode.Internal => "internal",
        RpcStatusCode.Unavailable => "unavailable",
        RpcStatusCode.DataLoss => "data_loss",
        RpcStatusCode.Unauthenticated => "unauthenticated",
        _ => "unknown",
    };
}

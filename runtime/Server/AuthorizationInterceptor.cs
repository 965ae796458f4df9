using System;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using RpcGen.Protocol;

namespace RpcGen.Server;

/// <summary>
/// The server's first interceptor when it has an authenticator or serves a method with <c>[RpcAuthorize]</c>: makes the
/// caller's principal (<see cref="RpcServerOptions.Authenticator"/>), then checks the method's rule, so a denied call
/// never runs. Authentication problems are <c>Unauthenticated</c>, missing roles <c>PermissionDenied</c>.
/// </summary>
internal sealed class AuthorizationInterceptor : RpcServerInterceptor
{
    private readonly IRpcAuthenticator? _authenticator;
    private readonly ILogger _logger;

    public AuthorizationInterceptor(IRpcAuthenticator? authenticator, ILogger logger)
    {
        _authenticator = authenticator;
        _logger = logger;
    }

    public override async ValueTask InterceptAsync(RpcIncomingCall call, Func<RpcIncomingCall, ValueTask> next)
    {
        if (_authenticator is not null)
        {
            try
            {
                call.Context.User = await _authenticator.AuthenticateAsync(call.Context, call.Context.CancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not RpcException and not OperationCanceledException)
            {
                Telemetry.RpcGenLog.AuthenticatorFailed(_logger, ex, call.Method.FullName);
                throw new RpcException(RpcStatusCode.Unauthenticated, "The caller could not be authenticated.");
            }
        }

        if (call.Method.Authorization?.Check(call.Context.User, call.Method.FullName) is { } denied)
        {
            throw new RpcException(denied.Code, denied.Reason);
        }

        await next(call).ConfigureAwait(false);
    }
}

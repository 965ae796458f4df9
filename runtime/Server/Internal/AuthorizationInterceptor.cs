using System;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace RpcGen.Server.Internal;

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
                // Not the exception itself: validators put the token they refused in their messages (and the stack
                // trace adds nothing an attacker's flood should fill logs with). Its type, and its message redacted.
                Telemetry.RpcGenLog.AuthenticatorFailed(_logger, call.Method.FullName, ex.GetType().FullName ?? ex.GetType().Name, Redact(ex.Message, call.Context.RequestHeaders));
                throw new RpcException(RpcStatusCode.Unauthenticated, "The caller could not be authenticated.");
            }
        }

        if (call.Method.Authorization?.Check(call.Context.User, call.Method.FullName) is { } denied)
        {
            throw new RpcException(denied.Code, denied.Reason);
        }

        await next(call).ConfigureAwait(false);
    }

    /// <summary>
    /// An authenticator's message fit for a log: each request header value (the credentials a call carries, bearer
    /// tokens among them) replaced with <c>[redacted]</c>, then every run of 16 or more token characters (letters,
    /// digits, <c>-_.+/=</c>: JWTs, API keys, base64) as well.
    /// </summary>
    internal static string Redact(string message, RpcMetadata headers)
    {
        foreach (RpcMetadataEntry entry in headers)
        {
            if (entry.Value is { Length: >= 4 } value)
            {
                message = message.Replace(value, "[redacted]", StringComparison.Ordinal);
                int space = value.IndexOf(' ', StringComparison.Ordinal);
                if (space > 0 && value.Length - space > 4)
                {
                    message = message.Replace(value[(space + 1)..], "[redacted]", StringComparison.Ordinal); // "Bearer <token>": the token alone too
                }
            }
        }

        var redacted = new System.Text.StringBuilder(message.Length);
        int run = 0;
        for (int i = 0; i <= message.Length; i++)
        {
            char c = i < message.Length ? message[i] : ' ';
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '+' or '/' or '=')
            {
                run++;
                continue;
            }

            if (run >= 16)
            {
                redacted.Append("[redacted]");
            }
            else
            {
                redacted.Append(message, i - run, run);
            }

            run = 0;
            if (i < message.Length)
            {
                redacted.Append(c);
            }
        }

        return redacted.ToString();
    }
}

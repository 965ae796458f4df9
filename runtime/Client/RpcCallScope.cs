using System;
using System.Threading;
using RpcGen.Protocol;

namespace RpcGen.Client;

/// <summary>
/// Metadata for the calls made inside a <c>using</c> block, for proxies whose methods have no metadata parameter:
/// <see cref="RequestHeaders"/> travel with every call the block (and what it awaits) makes, after the client's
/// <see cref="RpcClientOptions.DefaultRequestHeaders"/> and the headers of enclosing scopes; the response metadata of
/// the last call that completed in the block is kept in <see cref="ResponseHeaders"/> and <see cref="ResponseTrailers"/>
/// (on failure also on the <see cref="RpcException"/>). A stream's response headers are there from its first item on.
/// </summary>
/// <example>
/// <code>
/// using (RpcCallScope scope = RpcCallScope.Begin())
/// {
///     scope.RequestHeaders.Add("tenant", "acme");
///     await calculator.AddAsync(2, 3);
///     string? served = scope.ResponseHeaders?.GetValue("served-by");
/// }
/// </code>
/// </example>
public sealed class RpcCallScope : IDisposable
{
    private static readonly AsyncLocal<RpcCallScope?> s_current = new();
    private static volatile bool s_used;
    private readonly RpcCallScope? _parent;
    private HeadersAndTrailers? _response;
    private bool _disposed;

    private RpcCallScope(RpcMetadata headers)
    {
        _parent = s_current.Value;
        RequestHeaders = headers;
    }

    /// <summary>The scope of the calls made here, or null outside any.</summary>
    public static RpcCallScope? Current => s_used ? s_current.Value : null;

    /// <summary>Headers sent with each call made in this scope. Change them only between calls.</summary>
    public RpcMetadata RequestHeaders { get; }

    /// <summary>
    /// The most time each call started in this scope (and in scopes inside it) may take, from its start: its deadline is
    /// the earlier of this and its own (<c>[Timeout]</c>, the client's default, the deadline of the call being served),
    /// and travels to the server as its own does. Null (the default) adds none. A call that exceeds it fails with
    /// <see cref="RpcStatusCode.DeadlineExceeded"/>.
    /// </summary>
    public TimeSpan? Timeout
    {
        get => _timeout;
        set
        {
            if (value is { } timeout && timeout <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(nameof(value), timeout, "A scope's timeout is positive (null for none).");
            }

            _timeout = value;
        }
    }

    private TimeSpan? _timeout;

    /// <summary>The shortest <see cref="Timeout"/> of the current scope and those around it, or null.</summary>
    internal static TimeSpan? CurrentTimeout()
    {
        TimeSpan? shortest = null;
        for (RpcCallScope? scope = Current; scope is not null; scope = scope._parent)
        {
            if (scope._timeout is { } timeout && (shortest is null || timeout < shortest))
            {
                shortest = timeout;
            }
        }

        return shortest;
    }

    /// <summary>The headers of the last response (or error) received in this scope, or null.</summary>
    public RpcMetadata? ResponseHeaders => Volatile.Read(ref _response)?.Headers;

    /// <summary>The trailers of the last response (or error) received in this scope, or null.</summary>
    public RpcMetadata? ResponseTrailers => Volatile.Read(ref _response)?.Trailers;

    /// <summary>Starts a scope on this logical flow, with <paramref name="headers"/> (or new, empty ones) to send.</summary>
    public static RpcCallScope Begin(RpcMetadata? headers = null)
    {
        if (headers is { IsReadOnly: true })
        {
            throw new ArgumentException("Received metadata cannot be sent again as it is; copy its entries into new RpcMetadata.", nameof(headers));
        }

        s_used = true;
        var scope = new RpcCallScope(headers ?? new RpcMetadata());
        s_current.Value = scope;
        return scope;
    }

    /// <summary>Ends the scope: the enclosing one (or none) is current again.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (ReferenceEquals(s_current.Value, this))
        {
            s_current.Value = _parent;
        }
    }

    /// <summary>
    /// The headers a call sends: the client's defaults, then each enclosing scope's from the outermost in, or null when
    /// there are none (the common case costs nothing).
    /// </summary>
    internal static RpcMetadata? Outgoing(RpcMetadata defaults)
    {
        RpcCallScope? scope = Current;
        if (scope is null)
        {
            return defaults.Count == 0 ? null : defaults;
        }

        RpcMetadata combined = RpcMetadata.CopyOf(defaults);
        scope.AppendChain(combined);
        return combined.Count == 0 ? null : combined;
    }

    /// <summary>Keeps the headers a stream's server sent ahead of its first item (its end brings the trailers).</summary>
    internal void ReceiveHeaders(RpcMetadata headers) => Volatile.Write(ref _response, new HeadersAndTrailers(headers, null));

    /// <summary>Keeps what a completed call received (its response's metadata, or its error's).</summary>
    internal void Complete(HeadersAndTrailers? response, Exception? error)
    {
        if (error is RpcException rpc)
        {
            response = rpc.ResponseHeaders is null && rpc.Trailers is null ? null : new HeadersAndTrailers(rpc.ResponseHeaders, rpc.Trailers);
        }

        Volatile.Write(ref _response, response);
    }

    private void AppendChain(RpcMetadata combined)
    {
        _parent?.AppendChain(combined);
        combined.AddAll(RequestHeaders);
    }
}

using RpcGen.Protocol;
using RpcGen.Server.Internal;

namespace RpcGen.Server;

// A call's metadata: the request's headers, and the headers and trailers the handler writes through RpcCallContext,
// sent with the response or error (to clients that read them) and sealed once sent.
public sealed partial class RpcServerCall
{
    private RpcMetadata? _requestHeaders;
    private RpcMetadata? _responseHeaders;
    private RpcMetadata? _responseTrailers;
    private bool _headersSent;       // ahead of a stream's first items: the end does not carry them again

    private System.Security.Claims.ClaimsPrincipal? _user;

    /// <summary>The request's headers (empty when it carried none, or once <paramref name="generation"/> has ended).</summary>
    internal RpcMetadata RequestHeadersFor(int generation)
    {
        lock (_lock)
        {
            return generation == _generation ? _requestHeaders ?? RpcMetadata.Empty : RpcMetadata.Empty;
        }
    }

    /// <summary>The connection of the call <paramref name="generation"/>, or null once it ended.</summary>
    internal ServerConnection? ConnectionFor(int generation)
    {
        lock (_lock)
        {
            return generation == _generation ? _connection : null;
        }
    }

    internal System.Security.Claims.ClaimsPrincipal? UserFor(int generation)
    {
        lock (_lock)
        {
            return generation == _generation ? _user : null;
        }
    }

    internal void SetUser(int generation, System.Security.Claims.ClaimsPrincipal? user)
    {
        lock (_lock)
        {
            if (generation == _generation)
            {
                _user = user;
            }
        }
    }

    /// <summary>The headers to send with the response, created on first use; detached once the call has ended.</summary>
    internal RpcMetadata ResponseHeadersFor(int generation)
    {
        lock (_lock)
        {
            return generation != _generation ? Sealed() : _responseHeaders ??= new RpcMetadata();
        }
    }

    /// <summary>The trailers to send after the result or with the error, created on first use.</summary>
    internal RpcMetadata ResponseTrailersFor(int generation)
    {
        lock (_lock)
        {
            return generation != _generation ? Sealed() : _responseTrailers ??= new RpcMetadata();
        }
    }

    /// <summary>
    /// The bytes the response's metadata takes in the frame: 0 when there is none or the client does not read it;
    /// -1 with <paramref name="tooLarge"/> set when it is over <see cref="RpcServerLimits.MaxMetadataSize"/>.
    /// </summary>
    private int ResponseMetadataLength(out string? tooLarge)
    {
        tooLarge = null;
        RpcMetadata? headers = _headersSent ? null : _responseHeaders;
        if (headers is null && _responseTrailers is null)
        {
            return 0;
        }

        int length = FrameEncoder.ResponseMetadataLength(headers, _responseTrailers);
        int limit = _connection.Server.Options.Limits.MaxMetadataSize;
        if (length > limit)
        {
            tooLarge = $"The response metadata of '{Method.FullName}' is {length} bytes, over the server's limit of {limit} (RpcServerOptions.Limits.MaxMetadataSize).";
            return -1;
        }

        return _connection.ClientReadsMetadata ? length : 0;
    }

    /// <summary>Trailers of an <see cref="RpcException"/> the handler threw, added to those it wrote.</summary>
    private void AddThrownMetadata(RpcException exception)
    {
        if (exception.Trailers is not { Count: > 0 } thrown)
        {
            return;
        }

        RpcMetadata trailers = ResponseTrailersFor(Generation);
        if (!trailers.IsReadOnly)
        {
            trailers.AddAll(thrown);
        }
    }

    private RpcMetadata? SealHeaders()
    {
        _responseHeaders?.MakeReadOnly();
        return _headersSent ? null : _responseHeaders;
    }

    private RpcMetadata? SealTrailers()
    {
        _responseTrailers?.MakeReadOnly();
        return _responseTrailers;
    }

    private void ResetMetadata()
    {
        _requestHeaders = null;
        _user = null;
        _responseHeaders = null;
        _responseTrailers = null;
        _headersSent = false;
    }

    /// <summary>What a context of a call that has ended gets: writing to it fails, as writing after the response would.</summary>
    private static RpcMetadata Sealed()
    {
        var metadata = new RpcMetadata();
        metadata.MakeReadOnly();
        return metadata;
    }
}

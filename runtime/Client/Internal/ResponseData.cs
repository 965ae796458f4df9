using System;
using RpcGen.Protocol;

namespace RpcGen.Client.Internal;

/// <summary>
/// A response body in a rented array (the receiver returns it with <see cref="Dispose"/>), or the error the call ended
/// with: a failed call completes with a value, so nothing is thrown until the invoker hands the error to the caller.
/// </summary>
internal readonly struct ResponseData : IDisposable
{
    // The error of a failed call, or the metadata of a response: never both (an error carries its metadata itself),
    // so one field holds either and the struct stays as small as it was before metadata (it is copied through every
    // async frame of a call).
    private readonly object? _errorOrMetadata;

    public ResponseData(byte[]? array, int length, HeadersAndTrailers? metadata = null)
    {
        Array = array;
        Length = length;
        _errorOrMetadata = metadata;
    }

    public ResponseData(Exception error)
    {
        Array = null;
        Length = 0;
        _errorOrMetadata = error;
    }

    /// <summary>The response's headers and trailers, or null when it had none.</summary>
    public HeadersAndTrailers? Metadata => _errorOrMetadata as HeadersAndTrailers;

    public byte[]? Array { get; }

    /// <summary>Why the call failed; null for a response.</summary>
    public Exception? Error => _errorOrMetadata as Exception;

    public int Length { get; }

    public ReadOnlySpan<byte> Span => Array is null ? default : Array.AsSpan(0, Length);

    public void Dispose()
    {
        if (Array is not null)
        {
            Transport.BufferPool.Return(Array);
        }
    }
}

using System;
using RpcGen.Protocol;

namespace RpcGen.Transport;

/// <summary>
/// A response body in a rented array (the receiver returns it with <see cref="Dispose"/>), or the error the call ended
/// with: a failed call completes with a value, so nothing is thrown until the invoker hands the error to the caller.
/// </summary>
internal readonly struct ResponseData : IDisposable
{
    public ResponseData(byte[]? array, int length, ResponseMetadata? metadata = null)
    {
        Array = array;
        Length = length;
        Error = null;
        Metadata = metadata;
    }

    public ResponseData(Exception error)
    {
        Array = null;
        Length = 0;
        Error = error;
        Metadata = null;
    }

    /// <summary>The response's headers and trailers, or null when it had none.</summary>
    public ResponseMetadata? Metadata { get; }

    public byte[]? Array { get; }

    /// <summary>Why the call failed; null for a response.</summary>
    public Exception? Error { get; }

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

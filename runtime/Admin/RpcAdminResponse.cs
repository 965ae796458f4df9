using System;

namespace RpcGen.Admin;

/// <summary>One answer of the admin page: a status code, a content type and the body.</summary>
public readonly struct RpcAdminResponse
{
    internal RpcAdminResponse(int statusCode, string contentType, ReadOnlyMemory<byte> body)
    {
        StatusCode = statusCode;
        ContentType = contentType;
        Body = body;
    }

    /// <summary>The HTTP status code.</summary>
    public int StatusCode { get; }

    /// <summary>The content type, with its charset.</summary>
    public string ContentType { get; }

    /// <summary>The body.</summary>
    public ReadOnlyMemory<byte> Body { get; }
}

using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace RpcGen.Tests.Support;

/// <summary>Speaks the wire protocol by hand, to send what a well-behaved client never would.</summary>
public sealed class RawConnection : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;

    private RawConnection(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public NetworkStream Stream => _stream;

    /// <summary>Connects; <paramref name="clientFlags"/> goes in the preface's bytes 6–7 (bit 0: reads response metadata; 0 is a client that predates it).</summary>
    public static async Task<RawConnection> ConnectAsync(RpcEndpoint endpoint, bool sendPreface = true, byte clientFlags = 0)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(endpoint.Host, endpoint.Port);
        var connection = new RawConnection(tcp);
        if (sendPreface)
        {
            await connection.WriteAsync(new byte[] { 0x52, 0x50, 0x43, 0x47, 1, 1, clientFlags, 0 });
            byte[] serverPreface = await connection.ReadExactlyAsync(8);
            if (Encoding.ASCII.GetString(serverPreface, 0, 4) != "RPCG")
            {
                throw new InvalidOperationException("not an RpcGen server");
            }

            // A server that serves the connection sends its Settings frame behind the preface; one that refuses it, a GoAway.
            byte[] header = await connection.ReadExactlyAsync(12);
            if (header[4] == 12)
            {
                connection.ServerSettings = await connection.ReadExactlyAsync((int)BinaryPrimitives.ReadUInt32LittleEndian(header));
            }
            else
            {
                connection._pending = header;
            }
        }

        return connection;
    }

    /// <summary>The body of the Settings frame the server sent behind its preface (u16 id + u32 value entries).</summary>
    public byte[]? ServerSettings { get; private set; }

    /// <summary>Bytes read ahead that the next read returns first.</summary>
    private byte[]? _pending;

    public async Task WriteAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>A frame; <paramref name="encoding"/> goes in header byte 6 (the payload's compression algorithm).</summary>
    public static byte[] Frame(byte type, uint callId, byte[] body, uint? declaredLength = null, byte encoding = 0)
    {
        byte[] frame = new byte[12 + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, declaredLength ?? (uint)body.Length);
        frame[4] = type;
        frame[6] = encoding;
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), callId);
        body.CopyTo(frame, 12);
        return frame;
    }

    public static byte[] RequestBody(string method, string payload, uint timeoutMs = 0) =>
        RequestBody(method, Encoding.UTF8.GetBytes(payload), timeoutMs);

    /// <summary>A request body whose arguments are the bytes given (JSON, or a compressed body).</summary>
    public static byte[] RequestBody(string method, byte[] json, uint timeoutMs = 0)
    {
        byte[] name = Encoding.UTF8.GetBytes(method);
        byte[] body = new byte[4 + 2 + name.Length + 2 + json.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(body, timeoutMs);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(4), (ushort)name.Length);
        name.CopyTo(body, 6);
        json.CopyTo(body, 8 + name.Length);
        return body;
    }

    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        byte[] buffer = new byte[count];
        int offset = 0;
        if (_pending is { } pending)
        {
            offset = Math.Min(count, pending.Length);
            pending.AsSpan(0, offset).CopyTo(buffer);
            _pending = offset == pending.Length ? null : pending[offset..];
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _stream.ReadExactlyAsync(buffer.AsMemory(offset), timeout.Token);
        return buffer;
    }

    /// <summary>The last load report a server attached (calls in flight, utilization in basis points or 0xFFFF).</summary>
    public (uint InFlight, ushort Utilization)? LastLoadReport { get; private set; }

    /// <summary>Byte 6 of the last frame's header: the algorithm its payload is compressed with (0: none).</summary>
    public byte LastEncoding { get; private set; }

    /// <summary>Reads one frame: type, flags, call id, body (without the load report, which goes to <see cref="LastLoadReport"/>).</summary>
    public async Task<(byte Type, byte Flags, uint CallId, byte[] Body)> ReadFrameAsync()
    {
        byte[] header = await ReadExactlyAsync(12);
        LastEncoding = header[6];
        int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(header);
        byte[] body = length == 0 ? Array.Empty<byte>() : await ReadExactlyAsync(length);
        if ((header[5] & 2) != 0)
        {
            LastLoadReport = (BinaryPrimitives.ReadUInt32LittleEndian(body), BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(4)));
            body = body[6..];
        }

        return (header[4], header[5], BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8)), body);
    }

    public static (RpcStatusCode Code, string Message) ParseError(byte[] body) =>
        ((RpcStatusCode)BinaryPrimitives.ReadUInt16LittleEndian(body), Encoding.UTF8.GetString(body, 4, BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(2))));

    /// <summary>True when the server closed the connection (read returns 0 or the socket resets) within the timeout.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan timeout)
    {
        byte[] buffer = new byte[256];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                int read = await _stream.ReadAsync(buffer, cts.Token);
                if (read == 0)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return default;
    }
}

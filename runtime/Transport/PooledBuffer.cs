using System;
using System.Buffers;

namespace RpcGen.Transport;

/// <summary>
/// A growable byte buffer over <see cref="BufferPool"/>; an <see cref="IBufferWriter{T}"/> for Utf8JsonWriter. After a
/// message that made it larger than <see cref="BufferPool.MaxSharedLength"/>, clearing it gives the large array back.
/// </summary>
internal sealed class PooledBuffer : IBufferWriter<byte>, IDisposable
{
    private byte[] _array;
    private int _written;

    public PooledBuffer(int initialCapacity = 4096) => _array = BufferPool.Rent(initialCapacity);

    public int WrittenCount => _written;

    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, _written);

    public Span<byte> WrittenSpanWritable => _array.AsSpan(0, _written);

    public void Clear()
    {
        _written = 0;
        // Do not keep a large array alive after one large message: buffers live per thread and per connection, so what
        // each keeps adds up; large arrays go back to the bounded pool, where the next large message finds them.
        if (_array.Length > BufferPool.MaxSharedLength)
        {
            BufferPool.Return(_array);
            _array = BufferPool.Rent(4096);
        }
    }

    /// <summary>Forgets what was written after the first <paramref name="count"/> bytes.</summary>
    public void Truncate(int count)
    {
        if ((uint)count > (uint)_written)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _written = count;
    }

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_array.Length - _written))
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_written);
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_array.AsSpan(_written));
        _written += bytes.Length;
    }

    private void Ensure(int sizeHint)
    {
        if (sizeHint < 1)
        {
            sizeHint = 1;
        }

        if (_array.Length - _written >= sizeHint)
        {
            return;
        }

        long needed = (long)_written + sizeHint;
        long newSize = Math.Max(needed, (long)_array.Length * 2);
        if (newSize > Array.MaxLength)
        {
            newSize = Math.Max(needed, Array.MaxLength);
        }

        byte[] bigger = BufferPool.Rent((int)newSize);
        _array.AsSpan(0, _written).CopyTo(bigger);
        BufferPool.Return(_array);
        _array = bigger;
    }

    public void Dispose()
    {
        byte[] array = _array;
        _array = Array.Empty<byte>();
        _written = 0;
        BufferPool.Return(array);
    }
}

using System.IO.Pipelines;

namespace RpcGen.Tests.Support;

/// <summary>Counts flushes and can make each one slow, so that writers pile up behind it.</summary>
public sealed class CountingPipeWriter : PipeWriter
{
    private readonly PipeWriter _inner;
    private readonly TimeSpan _flushDelay;

    public CountingPipeWriter(PipeWriter inner, TimeSpan flushDelay = default)
    {
        _inner = inner;
        _flushDelay = flushDelay;
    }

    public int Flushes;

    public override void Advance(int bytes) => _inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => _inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => _inner.GetSpan(sizeHint);

    public override void CancelPendingFlush() => _inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => _inner.Complete(exception);

    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Flushes);
        if (_flushDelay > TimeSpan.Zero)
        {
            await Task.Delay(_flushDelay, cancellationToken);
        }

        return await _inner.FlushAsync(cancellationToken);
    }
}

using System.Buffers;
using System.IO.Pipelines;
using RpcGen.Transport;
using Xunit;

namespace RpcGen.Tests.Transport;

/// <summary>
/// <see cref="DirectPipe"/> keeps <see cref="Pipe"/>'s contract (what the read loops rely on), hands bytes over whole
/// and in order under a concurrent writer and reader, and bounds what a reader that stops reading makes the writer hold.
/// </summary>
public sealed class DirectPipeTests
{
    private static readonly TimeSpan s_patience = TimeSpan.FromSeconds(20);

    private static DirectPipe Create(long pause = 64 * 1024, int segment = 4096) => new(pause, pause / 2, segment);

    private static void Write(PipeWriter writer, ReadOnlySpan<byte> bytes)
    {
        Span<byte> span = writer.GetSpan(bytes.Length);
        bytes.CopyTo(span);
        writer.Advance(bytes.Length);
    }

    [Fact]
    public async Task AFlush_CompletesTheWaitingRead_InlineOnTheWritersThread()
    {
        var pipe = Create();
        int readerThread = 0;
        Task<byte[]> reading = Task.Run(async () =>
        {
            ReadResult read = await pipe.Reader.ReadAsync();
            readerThread = Environment.CurrentManagedThreadId;
            byte[] bytes = read.Buffer.ToArray();
            pipe.Reader.AdvanceTo(read.Buffer.End);
            return bytes;
        });
        await Task.Delay(50); // the read is pending (if it is not yet, the flush's bytes are there when it comes)

        int writerThread = 0;
        await Task.Run(async () =>
        {
            writerThread = Environment.CurrentManagedThreadId;
            Write(pipe.Writer, [1, 2, 3]);
            FlushResult flush = await pipe.Writer.FlushAsync();
            Assert.False(flush.IsCompleted);
        });

        Assert.Equal(new byte[] { 1, 2, 3 }, await reading.WaitAsync(s_patience));
        Assert.Equal(writerThread, readerThread);
    }

    [Fact]
    public async Task UnflushedBytes_AreNotRead_AndAReadWaitsForTheFlush()
    {
        var pipe = Create();
        Write(pipe.Writer, [7]);
        Assert.False(pipe.Reader.TryRead(out _));
        ValueTask<ReadResult> pending = pipe.Reader.ReadAsync();
        Assert.False(pending.IsCompleted);

        await pipe.Writer.FlushAsync();
        ReadResult read = await pending;
        Assert.Equal(new byte[] { 7 }, read.Buffer.ToArray());
    }

    [Fact]
    public async Task ExaminedBytes_AreNotReturnedAgain_UntilMoreArrive_ButUnexaminedOnesAre()
    {
        var pipe = Create();
        Write(pipe.Writer, [1, 2, 3, 4]);
        await pipe.Writer.FlushAsync();

        ReadResult first = await pipe.Reader.ReadAsync();
        pipe.Reader.AdvanceTo(first.Buffer.Start); // nothing consumed or examined: the same bytes at once
        Assert.True(pipe.Reader.TryRead(out ReadResult again));
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, again.Buffer.ToArray());

        pipe.Reader.AdvanceTo(again.Buffer.GetPosition(1), again.Buffer.End); // consumed 1, examined all
        Assert.False(pipe.Reader.TryRead(out _));
        ValueTask<ReadResult> waiting = pipe.Reader.ReadAsync();
        Assert.False(waiting.IsCompleted);

        Write(pipe.Writer, [5]);
        await pipe.Writer.FlushAsync();
        ReadResult later = await waiting;
        Assert.Equal(new byte[] { 2, 3, 4, 5 }, later.Buffer.ToArray());
    }

    [Fact]
    public async Task CancelPendingRead_EndsTheWaitingRead_OrTheNextOne_AsCanceled()
    {
        var pipe = Create();
        ValueTask<ReadResult> waiting = pipe.Reader.ReadAsync();
        pipe.Reader.CancelPendingRead();
        ReadResult read = await waiting;
        Assert.True(read.IsCanceled);
        pipe.Reader.AdvanceTo(read.Buffer.End);

        pipe.Reader.CancelPendingRead();
        read = await pipe.Reader.ReadAsync();
        Assert.True(read.IsCanceled);
        pipe.Reader.AdvanceTo(read.Buffer.End);
        Assert.False(pipe.Reader.ReadAsync().IsCompleted); // the cancel was used once
    }

    [Fact]
    public async Task TheWritersCompletion_EndsReads_WithTheRestOfTheBytes_OrThrowsItsError()
    {
        var pipe = Create();
        Write(pipe.Writer, [9, 9]);
        await pipe.Writer.FlushAsync();
        pipe.Writer.Complete();
        ReadResult read = await pipe.Reader.ReadAsync();
        Assert.True(read.IsCompleted);
        Assert.Equal(2, read.Buffer.Length);

        var failed = Create();
        ValueTask<ReadResult> waiting = failed.Reader.ReadAsync();
        failed.Writer.Complete(new IOException("gone"));
        IOException error = await Assert.ThrowsAsync<IOException>(async () => await waiting);
        Assert.Equal("gone", error.Message);
        Assert.Throws<InvalidOperationException>(() => failed.Writer.GetSpan());
    }

    [Fact]
    public async Task AReadWithAToken_ThrowsWhenTheTokenIsCanceled_AndTheNextReadStillGetsTheBytes()
    {
        var pipe = Create();
        using var source = new CancellationTokenSource();
        ValueTask<ReadResult> waiting = pipe.Reader.ReadAsync(source.Token);
        source.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await waiting);

        Write(pipe.Writer, [4]);
        await pipe.Writer.FlushAsync();
        ReadResult read = await pipe.Reader.ReadAsync(CancellationToken.None);
        Assert.Equal(new byte[] { 4 }, read.Buffer.ToArray());
    }

    [Fact]
    public async Task AFlush_WaitsAtThePauseThreshold_UntilTheReaderConsumesBelowTheResumeThreshold()
    {
        var pipe = Create(pause: 1000, segment: 256);
        Write(pipe.Writer, new byte[600]);
        Assert.True(pipe.Writer.FlushAsync().IsCompleted);
        Write(pipe.Writer, new byte[600]);
        ValueTask<FlushResult> paused = pipe.Writer.FlushAsync();
        Assert.False(paused.IsCompleted); // 1,200 unconsumed: over the pause threshold

        ReadResult read = await pipe.Reader.ReadAsync();
        Assert.Equal(1200, read.Buffer.Length);
        pipe.Reader.AdvanceTo(read.Buffer.GetPosition(600)); // 600 left: not yet under the resume threshold (500)
        Assert.False(paused.IsCompleted);

        read = await pipe.Reader.ReadAsync();
        pipe.Reader.AdvanceTo(read.Buffer.GetPosition(200)); // 400 left
        FlushResult flushed = await paused.AsTask().WaitAsync(s_patience);
        Assert.False(flushed.IsCompleted);
    }

    [Fact]
    public async Task AFlushWaitingForAReaderThatCompletes_ReportsTheReaderGone()
    {
        var pipe = Create(pause: 100, segment: 256);
        Write(pipe.Writer, new byte[150]);
        ValueTask<FlushResult> paused = pipe.Writer.FlushAsync();
        Assert.False(paused.IsCompleted);

        pipe.Reader.Complete();
        Assert.True((await paused.AsTask().WaitAsync(s_patience)).IsCompleted);
        Write(pipe.Writer, [1]);
        Assert.True((await pipe.Writer.FlushAsync()).IsCompleted);
    }

    [Fact]
    public async Task CancelPendingFlush_EndsAPausedFlush_AsCanceled()
    {
        var pipe = Create(pause: 100, segment: 256);
        Write(pipe.Writer, new byte[150]);
        ValueTask<FlushResult> paused = pipe.Writer.FlushAsync();
        pipe.Writer.CancelPendingFlush();
        Assert.True((await paused.AsTask().WaitAsync(s_patience)).IsCanceled);
    }

    [Fact]
    public async Task WritesLargerThanASegment_AndManySmallOnes_ArriveWholeAndInOrder()
    {
        var pipe = Create(segment: 256);
        byte[] large = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();
        Write(pipe.Writer, large);
        for (int i = 0; i < 300; i++)
        {
            Write(pipe.Writer, [(byte)i]); // fills segments to their end, then spills into the next
        }

        await pipe.Writer.FlushAsync();
        ReadResult read = await pipe.Reader.ReadAsync();
        byte[] all = read.Buffer.ToArray();
        Assert.Equal(large, all[..5000]);
        Assert.Equal(Enumerable.Range(0, 300).Select(i => (byte)i), all[5000..]);
    }

    [Fact]
    public async Task AConcurrentWriterAndReader_HandOverEveryByte_InOrder_WithinTheBound()
    {
        const int Total = 4_000_000;
        const long Pause = 8192;
        var pipe = Create(pause: Pause, segment: 512);
        long maxUnconsumed = 0;
        int largestFlush = 0;

        Task writing = Task.Run(async () =>
        {
            var random = new Random(7);
            int written = 0, unflushed = 0;
            while (written < Total)
            {
                int length = Math.Min(Total - written, random.Next(1, 3000));
                Span<byte> span = pipe.Writer.GetSpan(random.Next(0, 2) == 0 ? length : 1);
                length = Math.Min(length, span.Length);
                for (int i = 0; i < length; i++)
                {
                    span[i] = (byte)((written + i) % 251);
                }

                pipe.Writer.Advance(length);
                written += length;
                unflushed += length;
                if (random.Next(0, 3) == 0 || written == Total)
                {
                    largestFlush = Math.Max(largestFlush, unflushed);
                    unflushed = 0;
                    await pipe.Writer.FlushAsync();
                }
            }

            pipe.Writer.Complete();
        });

        long position = 0;
        var consumeRandom = new Random(11);
        while (true)
        {
            ReadResult read = await pipe.Reader.ReadAsync().AsTask().WaitAsync(s_patience);
            ReadOnlySequence<byte> buffer = read.Buffer;
            maxUnconsumed = Math.Max(maxUnconsumed, buffer.Length);
            long take = read.IsCompleted ? buffer.Length : consumeRandom.Next(0, (int)Math.Min(buffer.Length, 5000) + 1);
            bool all = take == buffer.Length; // examined to the end only then: a reader that keeps bytes must look again
            foreach (ReadOnlyMemory<byte> segment in buffer.Slice(0, take))
            {
                foreach (byte b in segment.Span)
                {
                    Assert.Equal((byte)(position % 251), b);
                    position++;
                }
            }

            pipe.Reader.AdvanceTo(buffer.GetPosition(take), all ? buffer.End : buffer.GetPosition(take));
            if (read.IsCompleted && take == buffer.Length)
            {
                break;
            }
        }

        await writing.WaitAsync(s_patience);
        Assert.Equal(Total, position);
        Assert.True(maxUnconsumed < Pause + largestFlush, $"{maxUnconsumed} bytes unconsumed: over the pause threshold and one flush ({largestFlush})");
    }
    [Fact]
    public void Thresholds_AreChecked_AndTheWritersBounds_Too()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DirectPipe(100, 101, 256));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DirectPipe(-1, 0, 256));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DirectPipe(100, -1, 256));
        _ = new DirectPipe(100, 100, 256);
        var never = new DirectPipe(0, 10, 256); // never pauses, whatever the resume threshold
        Write(never.Writer, new byte[100_000]);
        Assert.True(never.Writer.FlushAsync().IsCompleted);

        var pipe = Create(segment: 256);
        Write(pipe.Writer, [1, 2, 3]);
        int room = pipe.Writer.GetSpan().Length;
        Assert.Throws<ArgumentOutOfRangeException>(() => pipe.Writer.Advance(room + 1));
        pipe.Writer.Advance(room); // exactly the room left is fine
        pipe.Writer.Complete();
        InvalidOperationException error = Assert.Throws<InvalidOperationException>(() => pipe.Writer.GetMemory());
        Assert.Contains("completed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AWriteThatFitsTheSegment_StaysInIt_AndAConsumedSegmentIsNotLeftAtTheFront()
    {
        var pipe = Create(segment: 256);
        int room = pipe.Writer.GetSpan().Length;
        Write(pipe.Writer, new byte[room - 100]);
        Write(pipe.Writer, new byte[100]); // exactly the room left: the same segment
        await pipe.Writer.FlushAsync();
        ReadResult read = await pipe.Reader.ReadAsync();
        Assert.True(read.Buffer.IsSingleSegment);
        pipe.Reader.AdvanceTo(read.Buffer.End);

        Write(pipe.Writer, [1, 2]); // a new segment: the first is read to its end
        await pipe.Writer.FlushAsync();
        read = await pipe.Reader.ReadAsync();
        Assert.Equal(2, read.Buffer.FirstSpan.Length);
        Assert.True(read.Buffer.IsSingleSegment);
    }

    [Fact]
    public void ASteadyStreamOfMessages_AllocatesNothing_ConsumedSegmentsAreReused()
    {
        var pipe = Create(segment: 256);
        byte[] message = new byte[100];
        void Round()
        {
            Write(pipe.Writer, message);
            bool flushed = pipe.Writer.FlushAsync().IsCompletedSuccessfully;
            if (!flushed || !pipe.Reader.TryRead(out ReadResult read) || read.Buffer.Length != message.Length)
            {
                throw new InvalidOperationException("A message did not go through at once."); // (xunit's asserts allocate)
            }

            pipe.Reader.AdvanceTo(read.Buffer.End);
        }

        for (int i = 0; i < 100; i++)
        {
            Round();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            Round(); // a new segment every other message
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public async Task AFlush_PausesAtExactlyThePauseThreshold_AndResumesOnlyBelowTheResumeThreshold()
    {
        var pipe = Create(pause: 1000, segment: 256);
        Write(pipe.Writer, new byte[999]);
        Assert.True(pipe.Writer.FlushAsync().IsCompleted);
        ReadResult read = await pipe.Reader.ReadAsync();
        pipe.Reader.AdvanceTo(read.Buffer.GetPosition(500), read.Buffer.End); // 499 left
        Write(pipe.Writer, new byte[500]);
        Assert.True(pipe.Writer.FlushAsync().IsCompleted); // 999: under the threshold
        Write(pipe.Writer, new byte[1]);
        ValueTask<FlushResult> paused = pipe.Writer.FlushAsync(); // 1,000: at it
        Assert.False(paused.IsCompleted);

        read = await pipe.Reader.ReadAsync();
        pipe.Reader.AdvanceTo(read.Buffer.GetPosition(500)); // 500 left: at the resume threshold, not below
        Assert.False(paused.IsCompleted);
        read = await pipe.Reader.ReadAsync();
        pipe.Reader.AdvanceTo(read.Buffer.GetPosition(1)); // 499
        FlushResult flushed = await paused.AsTask().WaitAsync(s_patience);
        Assert.False(flushed.IsCanceled);
        Assert.False(flushed.IsCompleted);
    }

    [Fact]
    public async Task CancelPendingFlush_WithNoFlushWaiting_CancelsTheNextFlushOnly()
    {
        var pipe = Create();
        pipe.Writer.CancelPendingFlush();
        Write(pipe.Writer, [1]);
        FlushResult first = await pipe.Writer.FlushAsync();
        Assert.True(first.IsCanceled);
        Assert.False(first.IsCompleted);
        Write(pipe.Writer, [2]);
        Assert.False((await pipe.Writer.FlushAsync()).IsCanceled);
        ReadResult read = await pipe.Reader.ReadAsync();
        Assert.Equal(new byte[] { 1, 2 }, read.Buffer.ToArray()); // a canceled flush still published its bytes
    }

    [Fact]
    public async Task AFlushAfterTheReaderCompleted_ReportsItCompleted_NotCanceled()
    {
        var pipe = Create();
        pipe.Reader.Complete();
        Write(pipe.Writer, [1]);
        FlushResult flush = await pipe.Writer.FlushAsync();
        Assert.True(flush.IsCompleted);
        Assert.False(flush.IsCanceled);
    }

    [Fact]
    public async Task APausedFlushWithAToken_ThrowsWhenTheTokenIsCanceled()
    {
        var pipe = Create(pause: 100, segment: 256);
        using var source = new CancellationTokenSource();
        Write(pipe.Writer, new byte[150]);
        ValueTask<FlushResult> paused = pipe.Writer.FlushAsync(source.Token);
        Assert.False(paused.IsCompleted);
        source.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await paused);
    }

    [Fact]
    public async Task AnEarlierReadsToken_CancelsNoLaterRead()
    {
        var pipe = Create();
        using var source = new CancellationTokenSource();
        ValueTask<ReadResult> first = pipe.Reader.ReadAsync(source.Token);
        Write(pipe.Writer, [1]);
        await pipe.Writer.FlushAsync();
        ReadResult read = await first;
        pipe.Reader.AdvanceTo(read.Buffer.End);

        ValueTask<ReadResult> second = pipe.Reader.ReadAsync(); // no token
        source.Cancel(); // the first read's registration is gone: nothing happens to this one
        Assert.False(second.IsCompleted);
        Write(pipe.Writer, [2]);
        await pipe.Writer.FlushAsync();
        Assert.Equal(new byte[] { 2 }, (await second).Buffer.ToArray());
    }
}

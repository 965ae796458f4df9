using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using RpcGen.Tests.Support;
using RpcGen.Transport;
using Xunit;

namespace RpcGen.Tests.Transport;

public sealed class FrameOutputTests
{
    private static byte[] Frame(int writer, int sequence)
    {
        byte[] frame = new byte[16];
        BinaryPrimitives.WriteInt32LittleEndian(frame, writer);
        BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(4), sequence);
        BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(8), writer ^ sequence);
        BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(12), ~writer);
        return frame;
    }

    private static async Task<List<byte[]>> ReadAllAsync(PipeReader reader, int frames)
    {
        var result = new List<byte[]>();
        while (result.Count < frames)
        {
            ReadResult read = await reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20));
            ReadOnlySequence<byte> buffer = read.Buffer;
            while (buffer.Length >= 16)
            {
                result.Add(buffer.Slice(0, 16).ToArray());
                buffer = buffer.Slice(16);
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }

        return result;
    }

    [Fact]
    public async Task ConcurrentWriters_FramesArriveWhole_InPerWriterOrder_InFewerFlushes()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var writer = new CountingPipeWriter(pipe.Writer, TimeSpan.FromMilliseconds(2));
        var output = new FrameOutput(writer, _ => { });
        const int Writers = 8, PerWriter = 200;

        Task<List<byte[]>> reading = ReadAllAsync(pipe.Reader, Writers * PerWriter);
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(() =>
        {
            for (int i = 0; i < PerWriter; i++)
            {
                Assert.True(output.TryEnqueue(Frame(w, i)));
            }
        })));
        List<byte[]> frames = await reading;

        var next = new int[Writers];
        foreach (byte[] frame in frames)
        {
            int w = BinaryPrimitives.ReadInt32LittleEndian(frame);
            int sequence = BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(4));
            Assert.Equal(Frame(w, sequence), frame);           // not torn or interleaved
            Assert.Equal(next[w]++, sequence);                  // each writer's frames in its order
        }

        Assert.All(next, n => Assert.Equal(PerWriter, n));
        Assert.True(writer.Flushes < Writers * PerWriter / 4, $"{writer.Flushes} flushes for {Writers * PerWriter} frames");
    }

    [Fact]
    public async Task Corked_FramesLeaveInOneFlush()
    {
        var pipe = new Pipe();
        var writer = new CountingPipeWriter(pipe.Writer, TimeSpan.Zero);
        var output = new FrameOutput(writer, _ => { });

        output.Cork();
        for (int i = 0; i < 50; i++)
        {
            Assert.True(output.TryEnqueue(Frame(1, i)));
        }

        Assert.Equal(0, writer.Flushes);
        output.Uncork();
        Assert.Equal(50, (await ReadAllAsync(pipe.Reader, 50)).Count);
        Assert.Equal(1, writer.Flushes);
    }

    [Fact]
    public async Task CompleteAsync_WritesWhatIsPending_ThenRefusesFrames()
    {
        var pipe = new Pipe();
        var output = new FrameOutput(pipe.Writer, _ => { });
        output.Cork();
        output.TryEnqueue(Frame(1, 1));
        output.TryEnqueue(Frame(1, 2));
        Task completed = output.CompleteAsync();       // as when a graceful shutdown ends mid read batch
        Assert.False(output.TryEnqueue(Frame(1, 3)));
        Assert.False(completed.IsCompleted);            // waits for the uncork, never drops what is pending
        output.Uncork();
        await completed.WaitAsync(TimeSpan.FromSeconds(10));

        ReadResult read;
        var bytes = new List<byte>();
        do
        {
            read = await pipe.Reader.ReadAsync();
            bytes.AddRange(read.Buffer.ToArray());
            pipe.Reader.AdvanceTo(read.Buffer.End);
        }
        while (!read.IsCompleted);

        Assert.Equal(Frame(1, 1).Concat(Frame(1, 2)), bytes);
    }

    [Fact]
    public void FailedFlush_ClosesAndReportsOnce()
    {
        var pipe = new Pipe();
        pipe.Reader.Complete(); // the peer is gone: the next flush reports completion
        var failures = new List<Exception>();
        var output = new FrameOutput(pipe.Writer, failures.Add);

        output.TryEnqueue(Frame(1, 1));

        Assert.Single(failures);
        Assert.True(output.IsClosed);
        Assert.False(output.TryEnqueue(Frame(1, 2)));
    }
}

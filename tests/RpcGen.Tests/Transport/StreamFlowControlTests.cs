using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Serialization.Metadata;
using RpcGen.Transport;
using Xunit;

namespace RpcGen.Tests.Transport;

/// <summary>
/// The rules of a stream's flow control, one at a time: what the receiving side (<see cref="StreamInbox"/>) keeps and
/// refuses, when it grants credit and when its window grows, and how the sending side (<see cref="StreamSender"/>)
/// packs items into frames under the receiver's credit and maximum frame size.
/// </summary>
public sealed class StreamFlowControlTests
{
    private const uint CallId = 7;

    /// <summary>A frame as it left a <see cref="FrameOutput"/>.</summary>
    private sealed record Frame(FrameType Type, FrameFlags Flags, uint CallId, byte[] Body)
    {
        public (uint Items, uint Bytes) Credit
        {
            get
            {
                Assert.Equal(FrameType.Credit, Type);
                Assert.True(StreamFrames.TryReadCredit(Body, out uint items, out uint bytes));
                return (items, bytes);
            }
        }

        public List<string> Items()
        {
            var items = new List<string>();
            ReadOnlySpan<byte> body = Body;
            while (StreamFrames.TryReadItem(ref body, (Flags & FrameFlags.Positions) != 0, out _, out ReadOnlySpan<byte> json, out string? problem))
            {
                items.Add(Encoding.UTF8.GetString(json));
            }

            Assert.True(body.IsEmpty);
            return items;
        }
    }

    /// <summary>A <see cref="FrameOutput"/> over a pipe, and the frames it wrote so far.</summary>
    private sealed class CapturedOutput
    {
        private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 0));

        public CapturedOutput() => Output = new FrameOutput(_pipe.Writer, _ => { });

        public FrameOutput Output { get; }

        /// <summary>The frames written since the last call.</summary>
        public List<Frame> Take()
        {
            var frames = new List<Frame>();
            while (_pipe.Reader.TryRead(out ReadResult read))
            {
                ReadOnlySequence<byte> buffer = read.Buffer;
                while (true)
                {
                    ReadOnlySequence<byte> rest = buffer;
                    if (!FrameHeader.TryRead(ref rest, out FrameHeader header, out _) || rest.Length < header.Length)
                    {
                        break;
                    }

                    frames.Add(new Frame(header.Type, header.Flags, header.CallId, rest.Slice(0, header.Length).ToArray()));
                    buffer = rest.Slice(header.Length);
                }

                _pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
                if (buffer.IsEmpty)
                {
                    break;
                }
            }

            return frames;
        }
    }

    /// <summary>An items frame's body: each item its u32 length and its bytes.</summary>
    private static byte[] ItemsBody(params string[] items)
    {
        var body = new List<byte>();
        foreach (string item in items)
        {
            byte[] json = Encoding.UTF8.GetBytes(item);
            byte[] prefix = new byte[4];
            StreamFrames.WriteItemPrefix(prefix, false, 0, json.Length);
            body.AddRange(prefix);
            body.AddRange(json);
        }

        return body.ToArray();
    }

    private static string[] Numbers(int from, int count) => Enumerable.Range(from, count).Select(i => i.ToString()).ToArray();

    private static async Task<List<string>> ReadAsync(StreamInbox inbox, int count)
    {
        var read = new List<string>();
        for (int i = 0; i < count; i++)
        {
            (bool ok, StreamInbox.Item item) = await inbox.ReadAsync(CancellationToken.None);
            Assert.True(ok);
            read.Add(Encoding.UTF8.GetString(item.Json));
            inbox.Release(item);
        }

        return read;
    }

    [Fact]
    public void Bind_GrantsTheWholeWindow()
    {
        var peer = new CapturedOutput();
        var inbox = new StreamInbox(windowItems: 64, windowBytes: 256 * 1024);
        inbox.Bind(peer.Output, CallId);

        Frame credit = Assert.Single(peer.Take());
        Assert.Equal(CallId, credit.CallId);
        Assert.Equal((64u, 256u * 1024), credit.Credit);
    }

    [Fact]
    public async Task AFrameBeyondTheCredit_IsRefusedWhole_AndTakesNoCredit()
    {
        var inbox = new StreamInbox(windowItems: 2, windowBytes: 1024);
        inbox.Bind(new CapturedOutput().Output, CallId);

        Assert.Equal(StreamInbox.AddResult.OverCredit, inbox.TryAddFrame(ItemsBody("1", "2", "3"), FrameFlags.None, out _, out _));
        Assert.Equal(0, inbox.Received);

        // The refused frame took nothing: two items still fit.
        Assert.Equal(StreamInbox.AddResult.Added, inbox.TryAddFrame(ItemsBody("4", "5"), FrameFlags.None, out int count, out _));
        Assert.Equal(2, count);
        Assert.Equal(new[] { "4", "5" }, await ReadAsync(inbox, 2));
    }

    [Fact]
    public void ItemsBeyondTheBytesOfTheWindow_AreRefused_OneItemMayGoOver()
    {
        var inbox = new StreamInbox(windowItems: 64, windowBytes: 1024);
        inbox.Bind(new CapturedOutput().Output, CallId);
        string big = new('x', 1500);

        // One item may take the bytes below zero (so an item larger than the window still goes); the next may not.
        Assert.Equal(StreamInbox.AddResult.Added, inbox.TryAddFrame(ItemsBody(big), FrameFlags.None, out _, out _));
        Assert.Equal(StreamInbox.AddResult.OverCredit, inbox.TryAddFrame(ItemsBody("1"), FrameFlags.None, out _, out _));
    }

    [Fact]
    public void AnItemThatTakesTheBytesToExactlyZero_LeavesNoCreditForTheNext()
    {
        var inbox = new StreamInbox(windowItems: 64, windowBytes: 1024);
        inbox.Bind(new CapturedOutput().Output, CallId);

        Assert.Equal(StreamInbox.AddResult.Added, inbox.TryAddFrame(ItemsBody(new string('x', 1024)), FrameFlags.None, out _, out _));
        Assert.Equal(StreamInbox.AddResult.OverCredit, inbox.TryAddFrame(ItemsBody("1"), FrameFlags.None, out _, out _));
    }

    [Fact]
    public async Task CreditGoesBack_PerQuarterOfTheBytes_WhenItemsAreLarge()
    {
        var peer = new CapturedOutput();
        var inbox = new StreamInbox(windowItems: 64, windowBytes: 1024);
        inbox.Bind(peer.Output, CallId);
        peer.Take();
        string item = new('x', 100);
        Assert.Equal(StreamInbox.AddResult.Added, inbox.TryAddFrame(ItemsBody(item, item, item), FrameFlags.None, out _, out _));

        await ReadAsync(inbox, 2);
        Assert.Empty(peer.Take()); // 200 bytes read: under a quarter of 1,024
        await ReadAsync(inbox, 1);
        Assert.Equal((3u, 300u), Assert.Single(peer.Take()).Credit);
    }

    [Fact]
    public async Task TheWindowGrowsToItsMaximum_NotPastIt_AndGivesBackWhatWasReadWithTheGrowth()
    {
        var peer = new CapturedOutput();
        var inbox = new StreamInbox(windowItems: 8, windowBytes: 1024 * 1024, maxWindowItems: 12);
        inbox.Bind(peer.Output, CallId);
        peer.Take();

        // Seven items (one left of the window), flagged; the reader reads them (grants at 2, 4, 6), then waits.
        Assert.Equal(StreamInbox.AddResult.Added, inbox.TryAddFrame(ItemsBody(Numbers(0, 7)), FrameFlags.CreditWaited, out _, out _));
        await ReadAsync(inbox, 7);
        Assert.Equal(new[] { (2u, 2u), (2u, 2u), (2u, 2u) }, peer.Take().Select(f => f.Credit));
        ValueTask<(bool, StreamInbox.Item)> waiting = inbox.ReadAsync(CancellationToken.None);

        // The growth (8 → 12, capped) comes with the one item read since the last grant, and its byte.
        Assert.Equal(12, inbox.WindowItems);
        Assert.Equal((5u, 1u), Assert.Single(peer.Take()).Credit);

        // Without a new flag, another wait grows nothing.
        Assert.Equal(StreamInbox.AddResult.Added, AddAsTheReadLoopDoes(inbox, ItemsBody("7"), FrameFlags.None));
        await waiting;
        _ = inbox.ReadAsync(CancellationToken.None);
        Assert.Equal(12, inbox.WindowItems);
        Assert.Empty(peer.Take());
    }

    [Fact]
    public async Task Credit_CountsItemsAndBytes_AndClosingWakesAWaitingSender()
    {
        var credit = new StreamCredit();
        Assert.False(credit.HasCredit);
        credit.Grant(5, 10);
        Assert.True(credit.HasCredit);
        credit.Take(10); // the bytes are used up, items are left: no credit
        Assert.False(credit.HasCredit);
        credit.Grant(0, 1);
        Assert.True(credit.HasCredit);
        credit.Take(1);

        // A grant beyond the cap keeps the credit at the cap, not above or wrapped.
        credit.Grant(uint.MaxValue, uint.MaxValue);
        credit.Grant(uint.MaxValue, uint.MaxValue);
        credit.Take(int.MaxValue - 1);
        Assert.True(credit.HasCredit);
        credit.Take(1);
        Assert.False(credit.HasCredit);

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => credit.WaitAsync(cancelled.Token));

        Task waiting = credit.WaitAsync(CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        Assert.False(credit.IsClosed);
        credit.Close();
        await waiting.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(credit.IsClosed);
        Assert.True(credit.WaitAsync(CancellationToken.None).IsCompleted);
    }

    [Theory]
    [InlineData(new byte[] { 2, 0, 0, 0, (byte)'1' }, "longer than its frame")]
    [InlineData(new byte[] { 0, 0, 0, 0 }, "empty")]
    [InlineData(new byte[] { 1, 0 }, "truncated")]
    public void AMalformedFrame_KeepsNothing_AndSaysWhy(byte[] tail, string why)
    {
        var inbox = new StreamInbox(windowItems: 64, windowBytes: 1024);
        inbox.Bind(new CapturedOutput().Output, CallId);
        byte[] body = ItemsBody("1").Concat(tail).ToArray();

        Assert.Equal(StreamInbox.AddResult.Malformed, inbox.TryAddFrame(body, FrameFlags.None, out _, out string? problem));
        Assert.Contains(why, problem);
        Assert.Equal(0, inbox.Received);
    }

    [Fact]
    public async Task CreditGoesBack_PerQuarterWindow_OfWhatWasRead()
    {
        var peer = new CapturedOutput();
        var inbox = new StreamInbox(windowItems: 8, windowBytes: 1024 * 1024);
        inbox.Bind(peer.Output, CallId);
        peer.Take();
        Assert.Equal(StreamInbox.AddResult.Added, inbox.TryAddFrame(ItemsBody(Numbers(0, 8)), FrameFlags.None, out _, out _));

        await ReadAsync(inbox, 1);
        Assert.Empty(peer.Take());
        await ReadAsync(inbox, 1);
        Assert.Equal((2u, 2u), Assert.Single(peer.Take()).Credit);
        await ReadAsync(inbox, 6);
        Assert.Equal(new[] { (2u, 2u), (2u, 2u), (2u, 2u) }, peer.Take().Select(f => f.Credit));
    }

    [Fact]
    public async Task AReaderThatKeepsUp_GrowsTheWindow_WhenTheSenderWaitedForCredit_UpToItsMaximum()
    {
        var peer = new CapturedOutput();
        var inbox = new StreamInbox(windowItems: 4, windowBytes: 1024 * 1024, maxWindowItems: 16);
        inbox.Bind(peer.Output, CallId);
        long granted = peer.Take().Sum(f => f.Credit.Items), received = 0;
        int next = 0;
        ValueTask<(bool Read, StreamInbox.Item Item)>? waiting = null;
        foreach (int expected in new[] { 8, 16, 16 })
        {
            // The sender uses all its credit and says it had waited for more; the reader reads it all, then waits.
            int items = (int)(granted - received);
            Assert.Equal(StreamInbox.AddResult.Added,
                AddAsTheReadLoopDoes(inbox, ItemsBody(Numbers(next, items)), FrameFlags.CreditWaited));
            received += items;
            var read = new List<string>();
            if (waiting is { } pending)
            {
                (bool ok, StreamInbox.Item first) = await pending;
                Assert.True(ok);
                read.Add(Encoding.UTF8.GetString(first.Json));
                inbox.Release(first);
            }

            read.AddRange(await ReadAsync(inbox, items - read.Count));
            Assert.Equal(Numbers(next, items), read);
            next += items;
            waiting = inbox.ReadAsync(CancellationToken.None);
            Assert.False(waiting.Value.IsCompleted);

            granted += peer.Take().Sum(f => f.Credit.Items);
            Assert.Equal(expected, inbox.WindowItems);
            Assert.Equal(expected, granted - received); // the whole (grown) window is the sender's again
        }
    }

    [Fact]
    public async Task TheWindowDoesNotGrow_ForASenderThatNeverWaited_OrAReaderThatIsBehind()
    {
        var peer = new CapturedOutput();
        var inbox = new StreamInbox(windowItems: 4, windowBytes: 1024 * 1024, maxWindowItems: 64);
        inbox.Bind(peer.Output, CallId);

        // A slow sender: items without the flag; the reader waits for each, and the window stays.
        for (int i = 0; i < 3; i++)
        {
            ValueTask<(bool, StreamInbox.Item)> waiting = inbox.ReadAsync(CancellationToken.None);
            Assert.Equal(StreamInbox.AddResult.Added, AddAsTheReadLoopDoes(inbox, ItemsBody(i.ToString()), FrameFlags.None));
            (bool ok, StreamInbox.Item item) = await waiting;
            Assert.True(ok);
            inbox.Release(item);
        }

        Assert.Equal(4, inbox.WindowItems);

        // A reader that is behind: the sender waited, but the reader never finds the inbox empty.
        Assert.Equal(StreamInbox.AddResult.Added, inbox.TryAddFrame(ItemsBody("3"), FrameFlags.CreditWaited, out _, out _));
        peer.Take();
        Assert.Equal(StreamInbox.AddResult.Added, inbox.TryAddFrame(ItemsBody("4", "5"), FrameFlags.CreditWaited, out _, out _));
        await ReadAsync(inbox, 2);
        Assert.Equal(4, inbox.WindowItems);
    }

    [Fact]
    public async Task ItemsAfterTheEnd_AreDropped_AndAnErrorIsThrownAfterWhatArrived()
    {
        var inbox = new StreamInbox(windowItems: 8, windowBytes: 1024);
        inbox.Bind(new CapturedOutput().Output, CallId);
        Assert.Equal(StreamInbox.AddResult.Added, inbox.TryAddFrame(ItemsBody("1", "2"), FrameFlags.None, out _, out _));
        inbox.Complete(new RpcException(RpcStatusCode.Aborted, "gone"));
        Assert.Equal(StreamInbox.AddResult.Closed, inbox.TryAddFrame(ItemsBody("3"), FrameFlags.None, out _, out _));

        Assert.Equal(new[] { "1", "2" }, await ReadAsync(inbox, 2));
        RpcException error = await Assert.ThrowsAsync<RpcException>(async () => await inbox.ReadAsync(CancellationToken.None));
        Assert.Equal(RpcStatusCode.Aborted, error.StatusCode);
    }

    /// <summary>What a read loop does with an items frame: keeps it, then wakes the reader if it waited for it.</summary>
    private static StreamInbox.AddResult AddAsTheReadLoopDoes(StreamInbox inbox, byte[] body, FrameFlags flags)
    {
        StreamInbox.AddResult result = inbox.TryAddFrame(body, flags, out _, out _);
        inbox.WakeReader(inline: false);
        return result;
    }

    /// <summary>An inbox whose reader waits for items (parked, observed: not timed), having left any test context first.</summary>
    private static async Task<(StreamInbox Inbox, Task<(bool Read, string Item, int Thread)> Read)> InboxWithAWaitingReadAsync(
        CancellationToken ct = default)
    {
        var inbox = new StreamInbox(windowItems: 8, windowBytes: 1024);
        inbox.Bind(new CapturedOutput().Output, CallId);
        Task<(bool Read, string Item, int Thread)> read = Task.Run(async () =>
        {
            (bool ok, StreamInbox.Item item) = await inbox.ReadAsync(ct).ConfigureAwait(false);
            return (ok, ok ? Encoding.UTF8.GetString(item.Json) : "", Environment.CurrentManagedThreadId);
        });
        await Support.Wait.UntilAsync(() => inbox.IsReaderWaiting || read.IsCompleted, "the reader to wait");
        Assert.False(read.IsCompleted);
        return (inbox, read);
    }

    [Fact]
    public async Task AWaitingReader_IsWokenOnlyByWakeReader_AndInlineRunsItOnTheWakingThread()
    {
        (StreamInbox inbox, Task<(bool Read, string Item, int Thread)> read) = await InboxWithAWaitingReadAsync();

        Assert.Equal(StreamInbox.AddResult.Added, inbox.TryAddFrame(ItemsBody("1"), FrameFlags.None, out _, out _));
        Assert.True(inbox.WakePending);
        Assert.False(read.IsCompleted); // the read loop wakes it once the frame is handled, not while adding it

        int thread = 0;
        Thread waker = new(() =>
        {
            thread = Environment.CurrentManagedThreadId;
            inbox.WakeReader(inline: true);
            Assert.True(read.IsCompleted); // the reader ran to its end on this thread, before WakeReader returned
        });
        waker.Start();
        waker.Join();
        (bool ok, string item, int ranOn) = await read;
        Assert.True(ok);
        Assert.Equal("1", item);
        Assert.Equal(thread, ranOn);
        Assert.False(inbox.WakePending);
        inbox.WakeReader(inline: true); // a second wake finds nothing pending and does nothing
    }

    [Fact]
    public async Task WakeReaderNotInline_RunsTheReaderOnThePool_NotOnTheWakingThread()
    {
        (StreamInbox inbox, Task<(bool Read, string Item, int Thread)> read) = await InboxWithAWaitingReadAsync();
        inbox.TryAddFrame(ItemsBody("1"), FrameFlags.None, out _, out _);

        int thread = 0;
        Thread waker = new(() =>
        {
            thread = Environment.CurrentManagedThreadId;
            inbox.WakeReader(inline: false);
            Assert.True(read.Wait(Support.Wait.NoHang)); // completes while this thread still waits: it ran elsewhere
        });
        waker.Start();
        waker.Join();
        Assert.NotEqual(thread, (await read).Thread);
    }

    [Fact]
    public async Task AWaitingReadThatIsCancelled_Throws_AndTheNextReadGetsTheItemThatCameAfter()
    {
        using var cancel = new CancellationTokenSource();
        (StreamInbox inbox, Task<(bool Read, string Item, int Thread)> read) = await InboxWithAWaitingReadAsync(cancel.Token);
        cancel.Cancel();
        OperationCanceledException thrown = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
        Assert.Equal(cancel.Token, thrown.CancellationToken);

        // No reader waits now: a frame sets no wake, and the next read finds it at once.
        inbox.TryAddFrame(ItemsBody("2"), FrameFlags.None, out _, out _);
        Assert.False(inbox.WakePending);
        inbox.WakeReader(inline: true);
        Assert.Equal(new[] { "2" }, await ReadAsync(inbox, 1));
    }

    [Fact]
    public async Task CompleteWhileAWakeIsPending_WakesTheReaderOnce_WhichReadsTheItemsThenTheEnd()
    {
        (StreamInbox inbox, Task<(bool Read, string Item, int Thread)> read) = await InboxWithAWaitingReadAsync();
        inbox.TryAddFrame(ItemsBody("1"), FrameFlags.None, out _, out _);
        inbox.Complete(null); // another thread ends the stream before the read loop woke the reader: it wakes it
        Assert.False(inbox.WakePending);
        inbox.WakeReader(inline: true); // and the read loop's wake then does nothing (a second completion would throw)
        Assert.Equal("1", (await read.WaitAsync(Support.Wait.NoHang)).Item);
        Assert.False((await inbox.ReadAsync(CancellationToken.None)).Read);
    }

    [Fact]
    public async Task DiscardFromAnotherThread_EndsAWaitingRead()
    {
        (StreamInbox inbox, Task<(bool Read, string Item, int Thread)> read) = await InboxWithAWaitingReadAsync();
        inbox.Discard();
        Assert.False((await read.WaitAsync(Support.Wait.NoHang)).Read);
        Assert.Equal(StreamInbox.AddResult.Closed, inbox.TryAddFrame(ItemsBody("1"), FrameFlags.None, out _, out _));
    }

    private static async IAsyncEnumerable<string> Source(int count, int pauseAt = -1, [EnumeratorCancellation] CancellationToken ct = default)
    {
        for (int i = 0; i < count; i++)
        {
            if (i == pauseAt)
            {
                await Task.Delay(10, ct); // a source that has to wait (Task.Yield may complete at once under xunit's context)
            }

            yield return new string((char)('a' + (i % 26)), 90);
        }
    }

    private static readonly JsonTypeInfo<string> s_string =
        (JsonTypeInfo<string>)System.Text.Json.JsonSerializerOptions.Default.GetTypeInfo(typeof(string));

    [Fact]
    public async Task TheSender_BatchesReadyItems_KeepsEachFrameUnderTheReceiversMaximum_AndKeepsOrder()
    {
        var wire = new CapturedOutput();
        var credit = new StreamCredit();
        credit.Grant(1000, 1024 * 1024);
        const int MaxFrame = 500; // five items of 96 bytes (90 characters, quotes, prefix) fit, the sixth does not
        using var sender = new StreamSender(new StreamTarget(wire.Output, CallId, credit, MaxFrame, MaxQueuedOutput: 0));

        await sender.SendAsync(Source(23), s_string, "test/items", CancellationToken.None);

        List<Frame> frames = wire.Take();
        Assert.All(frames, f => Assert.True(f.Body.Length <= MaxFrame, $"a frame of {f.Body.Length} bytes"));
        Assert.Equal(new[] { 5, 5, 5, 5, 3 }, frames.Select(f => f.Items().Count));
        Assert.Equal(Source(23).ToBlockingEnumerable().Select(s => $"\"{s}\""), frames.SelectMany(f => f.Items()));
        Assert.Equal(23, sender.Sent);
    }

    [Fact]
    public async Task AnItemOverTheReceiversMaximum_FailsTheStream_AfterTheItemsBeforeItWereSent()
    {
        var wire = new CapturedOutput();
        var credit = new StreamCredit();
        credit.Grant(1000, 1024 * 1024);
        using var sender = new StreamSender(new StreamTarget(wire.Output, CallId, credit, 1024, MaxQueuedOutput: 0));
        async IAsyncEnumerable<string> ThreeThenHuge()
        {
            yield return "a";
            yield return "b";
            yield return "c";
            yield return new string('x', 2000);
            await Task.CompletedTask;
        }

        RpcException error = await Assert.ThrowsAsync<RpcException>(
            () => sender.SendAsync(ThreeThenHuge(), s_string, "test/items", CancellationToken.None));
        Assert.Equal(RpcStatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("Item 4 of the stream of 'test/items' is 2002 bytes, over the receiver's maximum frame size of 1024 bytes", error.Message,
            StringComparison.Ordinal);
        Assert.Equal(new[] { "\"a\"", "\"b\"", "\"c\"" }, wire.Take().SelectMany(f => f.Items()));
    }

    /// <summary>Writes a string, except "boom", which it cannot.</summary>
    private sealed class Brittle : System.Text.Json.Serialization.JsonConverter<string>
    {
        public override string Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options) =>
            reader.GetString()!;

        public override void Write(System.Text.Json.Utf8JsonWriter writer, string value, System.Text.Json.JsonSerializerOptions options)
        {
            if (value == "boom")
            {
                writer.WriteStartObject(); // half written when it fails: none of it may reach the frame
                throw new System.Text.Json.JsonException("no JSON for boom");
            }

            writer.WriteStringValue(value);
        }
    }

    [Fact]
    public async Task AnItemThatCannotBeSerialized_FailsTheStream_AfterTheItemsBeforeItWereSent()
    {
        var options = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerOptions.Default)
        {
            Converters = { new Brittle() },
        };
        var type = (JsonTypeInfo<string>)options.GetTypeInfo(typeof(string));
        var wire = new CapturedOutput();
        var credit = new StreamCredit();
        credit.Grant(1000, 1024 * 1024);
        using var sender = new StreamSender(new StreamTarget(wire.Output, CallId, credit, 1024, MaxQueuedOutput: 0));
        async IAsyncEnumerable<string> TwoThenBoom()
        {
            yield return "a";
            yield return "b";
            yield return "boom";
            await Task.CompletedTask;
        }

        RpcException error = await Assert.ThrowsAsync<RpcException>(
            () => sender.SendAsync(TwoThenBoom(), type, "test/items", CancellationToken.None));
        Assert.Equal(RpcStatusCode.Internal, error.StatusCode);
        Assert.Contains("Item 3 of the stream of 'test/items' could not be serialized: no JSON for boom", error.Message, StringComparison.Ordinal);
        Assert.Equal(new[] { "\"a\"", "\"b\"" }, wire.Take().SelectMany(f => f.Items()));
    }

    [Fact]
    public async Task TheSender_SendsAFrameOnce16KiBAreBatched()
    {
        var wire = new CapturedOutput();
        var credit = new StreamCredit();
        credit.Grant(1000, 1024 * 1024);
        using var sender = new StreamSender(new StreamTarget(wire.Output, CallId, credit, 4 * 1024 * 1024, MaxQueuedOutput: 0));

        await sender.SendAsync(Source(500), s_string, "test/items", CancellationToken.None);

        // 96 bytes an item: the frame that reaches 16,384 bytes (171 items) leaves, the next one starts.
        Assert.Equal(new[] { 171, 171, 158 }, wire.Take().Select(f => f.Items().Count));
    }

    [Fact]
    public async Task TheSender_SendsWhatItHasWhenTheSourceWaits_AndFlagsTheFrameAfterAWaitForCredit()
    {
        var wire = new CapturedOutput();
        var credit = new StreamCredit();
        credit.Grant(3, 1024 * 1024);
        using var sender = new StreamSender(new StreamTarget(wire.Output, CallId, credit, 16 * 1024, MaxQueuedOutput: 0));

        Task sending = sender.SendAsync(Source(6, pauseAt: 2), s_string, "test/items", CancellationToken.None);

        // Two items, then the source waits: they leave at once. The third uses the last credit; the fourth waits.
        await WaitUntilAsync(() => sender.Sent == 3);
        List<Frame> first = wire.Take();
        Assert.Equal(new[] { 2, 1 }, first.Select(f => f.Items().Count));
        Assert.All(first, f => Assert.Equal(FrameFlags.None, f.Flags & FrameFlags.CreditWaited));
        Assert.False(sending.IsCompleted);

        credit.Grant(10, 1024 * 1024);
        await sending;
        Frame after = Assert.Single(wire.Take());
        Assert.Equal(3, after.Items().Count);
        Assert.Equal(FrameFlags.CreditWaited, after.Flags & FrameFlags.CreditWaited);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!condition())
        {
            await Task.Delay(5, timeout.Token);
        }
    }
}

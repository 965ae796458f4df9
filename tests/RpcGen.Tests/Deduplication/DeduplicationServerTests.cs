using System.Text;
using RpcGen.Server.Deduplication;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Deduplication;

/// <summary>
/// A server in front of its deduplication store, driven by a raw connection that repeats call ids as a retrying client
/// (or a hostile one) would: repeats get the first answer whole, wait for a run in progress within their own deadline,
/// are refused when the arguments differ, and a store that fails or is full refuses the call as not processed.
/// </summary>
public sealed class DeduplicationServerTests
{
    private const byte Response = 2;
    private const byte Error = 3;
    private const byte Cancel = 4;

    internal sealed record Answer(
        byte Type, RpcStatusCode Code, string Text, RpcMetadata? Headers, RpcMetadata? Trailers, int? Pushback, bool NotProcessed);

    private static async Task<(RpcServer Server, Ledger Ledger)> StartAsync(Action<RpcServerOptions>? configure = null)
    {
        var options = new RpcServerOptions();
        configure?.Invoke(options);
        var server = new RpcServer(options);
        var ledger = new Ledger();
        server.Map<ILedger>(ledger);
        await server.StartAsync();
        return (server, ledger);
    }

    internal static byte[] Request(uint id, Guid callId, string method, string arguments, uint timeoutMs = 0)
    {
        byte[] name = Encoding.UTF8.GetBytes(method);
        byte[] payload = Encoding.UTF8.GetBytes(arguments);
        int prefix = FrameEncoder.RequestPrefixLength(name.Length, callId: true);
        byte[] frame = new byte[prefix + payload.Length];
        payload.CopyTo(frame, prefix);
        FrameEncoder.WriteRequest(frame, id, FrameFlags.None, timeoutMs, name, callId.ToByteArray());
        return frame;
    }

    internal static async Task<(uint Id, Answer Answer)> ReadAnswerAsync(RawConnection raw)
    {
        (byte type, byte flags, uint id, byte[] body) = await raw.ReadFrameAsync();
        RpcMetadata? headers = null, trailers = null;
        int offset = 0;
        if ((flags & (byte)FrameFlags.Metadata) != 0)
        {
            int h = MetadataCodec.Measure(body);
            int t = MetadataCodec.Measure(body.AsSpan(h));
            headers = MetadataCodec.Read(body.AsSpan(0, h), out _);
            trailers = MetadataCodec.Read(body.AsSpan(h, t), out _);
            offset = h + t;
        }

        byte[] rest = body[offset..];
        if (type == Response)
        {
            return (id, new Answer(type, RpcStatusCode.OK, Encoding.UTF8.GetString(rest), headers, trailers, null, false));
        }

        Assert.Equal(Error, type);
        (RpcStatusCode code, string message) = RawConnection.ParseError(rest);
        int? pushback = (flags & (byte)FrameFlags.Pushback) != 0
            ? System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(rest.AsSpan(rest.Length - 4))
            : null;
        return (id, new Answer(type, code, message, headers, trailers, pushback, (flags & (byte)FrameFlags.NotProcessed) != 0));
    }

    private static async Task<Answer> CallAsync(
        RawConnection raw, uint id, Guid callId, string arguments, uint timeoutMs = 0, string method = "ledger/Post")
    {
        await raw.WriteAsync(Request(id, callId, method, arguments, timeoutMs));
        (uint answered, Answer answer) = await ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(id, answered);
        return answer;
    }

    [Fact]
    public async Task ARepeat_GetsTheFirstAnswer_WithItsHeadersAndTrailers_AndDoesNotRun()
    {
        (RpcServer server, Ledger ledger) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 1))
        {
            var id = Guid.NewGuid();
            Answer first = await CallAsync(raw, 1, id, "[\"alice\",5]");
            Answer repeat = await CallAsync(raw, 2, id, "[\"alice\",5]");
            Assert.Equal("\"alice:5:run1\"", first.Text);
            Assert.Equal(first.Text, repeat.Text);
            Assert.Equal("1", repeat.Headers!.GetValue("x-run-header"));
            Assert.Equal("1", repeat.Trailers!.GetValue("x-run"));
            Assert.Equal(1, ledger.Runs);

            // An error is the first answer too, trailers (those written and those thrown) included.
            var failing = Guid.NewGuid();
            Answer error = await CallAsync(raw, 3, failing, "[\"bob\",-1]");
            Answer again = await CallAsync(raw, 4, failing, "[\"bob\",-1]");
            Assert.Equal((RpcStatusCode.FailedPrecondition, "bob: a negative amount"), (error.Code, error.Text));
            Assert.Equal((error.Code, error.Text), (again.Code, again.Text));
            Assert.Equal(("2", "negative"), (again.Trailers!.GetValue("x-run"), again.Trailers!.GetValue("reason")));
            Assert.Equal(2, ledger.Runs);

            // A method without a result: the stored answer is an empty one.
            var empty = Guid.NewGuid();
            Assert.Equal(string.Empty, (await CallAsync(raw, 5, empty, "[\"carol\"]", method: "ledger/Void")).Text);
            Assert.Equal(string.Empty, (await CallAsync(raw, 6, empty, "[\"carol\"]", method: "ledger/Void")).Text);
            Assert.Equal(3, ledger.Runs);
        }

        // A client that does not read metadata gets the answer without it.
        (RpcServer plain, Ledger plainLedger) = await StartAsync();
        await using (plain)
        await using (RawConnection raw = await RawConnection.ConnectAsync(plain.Endpoints[0]))
        {
            var id = Guid.NewGuid();
            await CallAsync(raw, 1, id, "[\"dave\",1]");
            Answer repeat = await CallAsync(raw, 2, id, "[\"dave\",1]");
            Assert.Equal(("\"dave:1:run1\"", (RpcMetadata?)null), (repeat.Text, repeat.Trailers));
            Assert.Equal(1, plainLedger.Runs);
        }
    }

    [Fact]
    public async Task TheSameCallId_WithOtherArguments_IsRefusedAlreadyExists_AndNotRun()
    {
        (RpcServer server, Ledger ledger) = await StartAsync();
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            var id = Guid.NewGuid();
            await CallAsync(raw, 1, id, "[\"alice\",5]");
            Answer other = await CallAsync(raw, 2, id, "[\"alice\",500]");
            Assert.Equal(RpcStatusCode.AlreadyExists, other.Code);
            Assert.Contains(id.ToString(), other.Text, StringComparison.Ordinal);
            Assert.Equal(-1, other.Pushback); // do not retry: no attempt of this call can succeed
            Assert.False(other.NotProcessed);
            Answer otherMethod = await CallAsync(raw, 3, id, "[\"alice\"]", method: "ledger/Void");
            Assert.Equal(RpcStatusCode.AlreadyExists, otherMethod.Code);
            Assert.Equal(1, ledger.Runs);
        }
    }

    [Fact]
    public async Task AHundredRepeatsAtOnce_RunTheHandlerOnce_AndAllGetItsAnswer()
    {
        (RpcServer server, Ledger ledger) = await StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ledger.Gate = _ => release.Task;
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            var id = Guid.NewGuid();
            byte[] burst = Enumerable.Range(1, 100).SelectMany(i => Request((uint)i, id, "ledger/Post", "[\"alice\",7]")).ToArray();
            await raw.WriteAsync(burst);
            await Wait.UntilAsync(() => ledger.Runs == 1 && server.Deduplication.Running == 1);
            release.SetResult();
            var answered = new HashSet<uint>();
            for (int i = 0; i < 100; i++)
            {
                (uint callId, Answer answer) = await ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal("\"alice:7:run1\"", answer.Text);
                Assert.True(answered.Add(callId));
            }

            Assert.Equal(1, ledger.Runs);
        }
    }

    [Fact]
    public async Task AFloodOfRepeatsOfARunningCall_TakesCallSlots_AndWhatIsOverTheLimitIsRefused()
    {
        (RpcServer server, Ledger ledger) = await StartAsync(o => o.Limits.MaxConcurrentCallsPerConnection = 10);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ledger.Gate = _ => release.Task;
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            // A hostile client repeats one running call 50 times: each repeat waits in a call slot, so 10 at most cost the
            // server anything; the other 40 are refused at once, not queued.
            var id = Guid.NewGuid();
            await raw.WriteAsync(Enumerable.Range(1, 50).SelectMany(i => Request((uint)i, id, "ledger/Post", "[\"mallory\",1]")).ToArray());
            var refused = new List<uint>();
            for (int i = 0; i < 40; i++)
            {
                (uint callId, Answer answer) = await ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal((RpcStatusCode.ResourceExhausted, true), (answer.Code, answer.NotProcessed));
                refused.Add(callId);
            }

            Assert.Equal(10, server.InFlight);
            release.SetResult();
            for (int i = 0; i < 10; i++)
            {
                (uint callId, Answer answer) = await ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal("\"mallory:1:run1\"", answer.Text);
                Assert.DoesNotContain(callId, refused);
            }

            Assert.Equal(1, ledger.Runs);
        }
    }

    [Fact]
    public async Task ARepeatWhileTheFirstRuns_WaitsForIt_WithinItsOwnDeadline()
    {
        (RpcServer server, Ledger ledger) = await StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ledger.Gate = _ => release.Task;
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            var id = Guid.NewGuid();
            await raw.WriteAsync(Request(1, id, "ledger/Post", "[\"alice\",9]"));
            await Wait.UntilAsync(() => ledger.Runs == 1);

            // The repeat's own deadline (150 ms) ends its wait; the first run goes on.
            Answer late = await CallAsync(raw, 2, id, "[\"alice\",9]", timeoutMs: 150);
            Assert.Equal(RpcStatusCode.DeadlineExceeded, late.Code);

            // A cancelled repeat ends too, and only the repeat.
            await raw.WriteAsync(Request(3, id, "ledger/Post", "[\"alice\",9]"));
            await raw.WriteAsync(RawConnection.Frame(Cancel, 3, Array.Empty<byte>()));
            (uint cancelledId, Answer cancelled) = await ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal((3u, RpcStatusCode.Cancelled), (cancelledId, cancelled.Code));

            await raw.WriteAsync(Request(4, id, "ledger/Post", "[\"alice\",9]"));
            await Task.Delay(50);
            release.SetResult();
            var answers = new Dictionary<uint, Answer>();
            for (int i = 0; i < 2; i++)
            {
                (uint answered, Answer answer) = await ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
                answers[answered] = answer;
            }

            Assert.Equal("\"alice:9:run1\"", answers[1].Text);
            Assert.Equal("\"alice:9:run1\"", answers[4].Text);
            Assert.Equal(1, ledger.Runs);
        }
    }

    [Fact]
    public async Task ARunThatGaveUp_IsForgotten_SoARepeatRunsIt()
    {
        (RpcServer server, Ledger ledger) = await StartAsync();
        ledger.Gate = async ct =>
        {
            if (ledger.Runs == 1)
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
        };
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            var id = Guid.NewGuid();
            Answer first = await CallAsync(raw, 1, id, "[\"alice\",3]", timeoutMs: 100);
            Assert.Equal(RpcStatusCode.DeadlineExceeded, first.Code);
            await Wait.UntilAsync(() => server.Deduplication.Running == 0);
            Answer retry = await CallAsync(raw, 2, id, "[\"alice\",3]");
            Assert.Equal("\"alice:3:run2\"", retry.Text);
        }
    }

    [Fact]
    public async Task AStoreThatFails_RefusesTheCallAsNotProcessed_AndTheServerGoesOn()
    {
        var store = new FaultyStore(new MemoryDeduplicationStore()) { FailClaims = true };
        (RpcServer server, Ledger ledger) = await StartAsync(o => o.Deduplication.Store = store);
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            Answer refused = await CallAsync(raw, 1, Guid.NewGuid(), "[\"alice\",1]");
            Assert.Equal(RpcStatusCode.Unavailable, refused.Code);
            Assert.True(refused.NotProcessed);
            Assert.Contains("'faulty'", refused.Text, StringComparison.Ordinal);
            Assert.Equal(0, ledger.Runs);

            store.FailClaims = false;
            Assert.Equal("\"alice:1:run1\"", (await CallAsync(raw, 2, Guid.NewGuid(), "[\"alice\",1]")).Text);
        }
    }

    [Fact]
    public async Task AStoreThatAnswersLater_ServesRepeatsFromItsAnswer_AndAPerServiceChoiceIsUsed()
    {
        var store = new FaultyStore(new MemoryDeduplicationStore()) { Yield = true };
        (RpcServer server, Ledger ledger) = await StartAsync(o => o.Deduplication.Stores["ledger"] = store);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ledger.Gate = _ => release.Task;
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0], clientFlags: 1))
        {
            var id = Guid.NewGuid();
            byte[] burst = Enumerable.Range(1, 50).SelectMany(i => Request((uint)i, id, "ledger/Post", "[\"erin\",4]")).ToArray();
            await raw.WriteAsync(burst);
            await Wait.UntilAsync(() => ledger.Runs == 1);
            release.SetResult();
            for (int i = 0; i < 50; i++)
            {
                (_, Answer answer) = await ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal(("\"erin:4:run1\"", "1"), (answer.Text, answer.Trailers!.GetValue("x-run")));
            }

            Assert.Equal(1, ledger.Runs);
            Assert.True(store.Claims >= 50);
            Assert.Equal(0, server.Deduplication.Memory.Count); // the server's own store was not used
        }
    }

    [Fact]
    public async Task AFullStore_RefusesNewCallsAsNotProcessed_WithAPushback()
    {
        (RpcServer server, Ledger ledger) = await StartAsync(o => o.Deduplication.Capacity = 2);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ledger.Gate = _ => release.Task;
        await using (server)
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(Request(1, Guid.NewGuid(), "ledger/Post", "[\"a\",1]"));
            await raw.WriteAsync(Request(2, Guid.NewGuid(), "ledger/Post", "[\"b\",1]"));
            await Wait.UntilAsync(() => ledger.Runs == 2);
            Answer full = await CallAsync(raw, 3, Guid.NewGuid(), "[\"c\",1]");
            Assert.Equal(RpcStatusCode.ResourceExhausted, full.Code);
            Assert.True(full.NotProcessed);
            Assert.NotNull(full.Pushback);
            release.SetResult();
        }
    }

    /// <summary>Wraps a store: fails or delays its claims on demand, and counts them.</summary>
    private sealed class FaultyStore : IDeduplicationStore
    {
        private readonly IDeduplicationStore _inner;
        private int _claims;

        public FaultyStore(IDeduplicationStore inner) => _inner = inner;

        public bool FailClaims { get; set; }

        public bool Yield { get; set; }

        public int Claims => Volatile.Read(ref _claims);

        public string Name => "faulty";

        public async ValueTask<DeduplicationClaim> ClaimAsync(DeduplicationKey key, TimeSpan lease, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _claims);
            if (FailClaims)
            {
                throw new IOException("the disk is gone");
            }

            if (Yield)
            {
                await Task.Yield();
            }

            return await _inner.ClaimAsync(key, lease, cancellationToken);
        }

        public async ValueTask<bool> CompleteAsync(Guid callId, long token, DeduplicationRecord record, CancellationToken cancellationToken = default)
        {
            if (Yield)
            {
                await Task.Yield();
            }

            return await _inner.CompleteAsync(callId, token, record, cancellationToken);
        }

        public ValueTask<bool> RenewAsync(Guid callId, long token, TimeSpan lease, CancellationToken cancellationToken = default) =>
            _inner.RenewAsync(callId, token, lease, cancellationToken);

        public ValueTask AbandonAsync(Guid callId, long token, CancellationToken cancellationToken = default) =>
            _inner.AbandonAsync(callId, token, cancellationToken);

        public ValueTask<int> SweepAsync(CancellationToken cancellationToken = default) => _inner.SweepAsync(cancellationToken);

        public ValueTask<DeduplicationStoreStatus> GetStatusAsync(CancellationToken cancellationToken = default) =>
            _inner.GetStatusAsync(cancellationToken);

        public ValueTask DisposeAsync() => _inner.DisposeAsync();
    }
}

using RpcGen.Server.Deduplication;
using Xunit;

namespace RpcGen.Tests.Deduplication;

/// <summary>
/// The index both in-process stores keep: bounds that evict the oldest answers and never a running claim, the window's
/// edge, the claim-order queue (bounded against abandoned claims, order kept), and the entries it reports removed.
/// </summary>
public class DeduplicationIndexTests
{
    private const long Window = 1_000;
    private static readonly DeduplicationRecord s_answer = new(RpcStatusCode.OK, null, null, new byte[84], Array.Empty<byte>()); // Size 100

    private static DeduplicationEntry Claim(DeduplicationIndex index)
    {
        var entry = new DeduplicationEntry(Guid.NewGuid(), "svc/M", 1, 1);
        index.Add(entry);
        return entry;
    }

    private static DeduplicationEntry Answered(DeduplicationIndex index, long now = 0)
    {
        DeduplicationEntry entry = Claim(index);
        index.Complete(entry, s_answer, now);
        return entry;
    }

    private static List<Guid> Order(DeduplicationIndex index) => index.InOrder().Select(e => e.Id).ToList();

    [Fact]
    public void Full_once_either_bound_is_reached_exactly()
    {
        var byBytes = new DeduplicationIndex(capacity: 10, maxBytes: 200, Window);
        Answered(byBytes);
        Assert.False(byBytes.Full);
        Answered(byBytes);
        Assert.Equal(200, byBytes.Bytes);
        Assert.True(byBytes.Full);

        var byCount = new DeduplicationIndex(capacity: 2, maxBytes: 1_000_000, Window);
        Claim(byCount);
        Assert.False(byCount.Full);
        Claim(byCount);
        Assert.True(byCount.Full);
    }

    [Fact]
    public void MakeRoom_keeps_answers_at_the_byte_bound_and_evicts_the_oldest_past_it()
    {
        var index = new DeduplicationIndex(capacity: 10, maxBytes: 200, Window);
        DeduplicationEntry first = Answered(index), second = Answered(index);
        Assert.True(index.MakeRoom(now: 1, needPlace: false));
        Assert.Equal(2, index.Count); // at the bound, not past it

        var removed = new List<Guid>();
        index.Removed = e => removed.Add(e.Id);
        DeduplicationEntry third = Answered(index);
        Assert.True(index.MakeRoom(now: 1, needPlace: false));
        Assert.Equal(new[] { first.Id }, removed);
        Assert.Equal(new[] { second.Id, third.Id }, Order(index));
        Assert.Equal(1, index.Evicted);
        Assert.Equal(200, index.Bytes);
    }

    [Fact]
    public void A_new_claim_needs_one_free_place_an_answer_needs_none()
    {
        var index = new DeduplicationIndex(capacity: 3, maxBytes: 1_000_000, Window);
        DeduplicationEntry first = Answered(index);
        Answered(index);
        Answered(index);

        Assert.True(index.MakeRoom(now: 1, needPlace: false));
        Assert.Equal(3, index.Count);

        Assert.True(index.MakeRoom(now: 1, needPlace: true));
        Assert.Equal(2, index.Count);
        Assert.False(index.TryGet(first.Id, out _));
    }

    [Fact]
    public void Running_claims_are_never_evicted_and_keep_their_order()
    {
        var index = new DeduplicationIndex(capacity: 2, maxBytes: 1_000_000, Window);
        DeduplicationEntry a = Claim(index), b = Claim(index), c = Claim(index);

        Assert.False(index.MakeRoom(now: 1, needPlace: true)); // only running claims: no room
        Assert.Equal(3, index.Count);
        Assert.Equal(new[] { a.Id, b.Id, c.Id }, Order(index)); // each met once at the front and put back: same order
        Assert.Equal(3, index.Queued);
        Assert.Equal(0, index.Evicted);

        // Once one has its answer, it is the one that goes (a, met first and still running, moved behind c).
        index.Complete(b, s_answer, now: 1);
        Assert.True(index.MakeRoom(now: 1, needPlace: false));
        Assert.Equal(new[] { c.Id, a.Id }, Order(index));
    }

    [Fact]
    public void MakeRoom_on_an_empty_index_has_room()
    {
        var index = new DeduplicationIndex(capacity: 1, maxBytes: 0, Window);
        Assert.True(index.MakeRoom(now: 0, needPlace: true));
    }

    [Fact]
    public void An_answer_lives_through_its_whole_window_and_goes_after()
    {
        var index = new DeduplicationIndex(capacity: 10, maxBytes: 1_000_000, Window);
        DeduplicationEntry entry = Answered(index, now: 100);

        Assert.False(index.Expired(entry, 100 + Window));
        Assert.True(index.TryGetLive(entry.Id, 100 + Window, out _, out _));
        Assert.True(index.Expired(entry, 100 + Window + 1));
        Assert.False(index.TryGetLive(entry.Id, 100 + Window + 1, out DeduplicationEntry? live, out DeduplicationEntry? expired));
        Assert.Null(live);
        Assert.Same(entry, expired);

        DeduplicationEntry running = Claim(index);
        Assert.False(index.Expired(running, long.MaxValue)); // a claim has no window: its lease is the store's business
    }

    [Fact]
    public void Every_answer_past_its_window_at_the_front_goes_in_one_pass_and_is_reported()
    {
        var index = new DeduplicationIndex(capacity: 10, maxBytes: 1_000_000, Window);
        var removed = new List<Guid>();
        index.Removed = e => removed.Add(e.Id);
        DeduplicationEntry old1 = Answered(index, now: 0), old2 = Answered(index, now: 0), fresh = Answered(index, now: 900);

        Assert.True(index.MakeRoom(now: Window + 1, needPlace: false)); // within the bounds: only the window removes
        Assert.Equal(new[] { old1.Id, old2.Id }, removed);
        Assert.Equal(new[] { fresh.Id }, Order(index));
        Assert.Equal(0, index.Evicted); // expiry is not eviction
        Assert.Equal(100, index.Bytes);
    }

    [Fact]
    public void A_stale_place_at_the_front_is_skipped_and_the_oldest_live_answer_goes()
    {
        var index = new DeduplicationIndex(capacity: 2, maxBytes: 1_000_000, Window);
        DeduplicationEntry abandoned = Claim(index);
        index.Remove(abandoned); // its place stays in the queue
        DeduplicationEntry b = Answered(index), c = Answered(index), d = Answered(index);
        var removed = new List<Guid>();
        index.Removed = e => removed.Add(e.Id);

        Assert.True(index.MakeRoom(now: 1, needPlace: false));

        Assert.Equal(new[] { b.Id }, removed);
        Assert.Equal(new[] { c.Id, d.Id }, Order(index));
        Assert.Equal(2, index.Queued);
    }

    [Fact]
    public void Removing_a_replaced_entry_leaves_the_entry_that_replaced_it()
    {
        var index = new DeduplicationIndex(capacity: 10, maxBytes: 1_000_000, Window);
        DeduplicationEntry first = Answered(index);
        index.Remove(first);
        var second = new DeduplicationEntry(first.Id, "svc/M", 1, 2);
        index.Add(second);
        index.Complete(second, s_answer, 5);

        index.Remove(first);

        Assert.True(index.TryGet(first.Id, out DeduplicationEntry? current));
        Assert.Same(second, current);
        Assert.Equal(100, index.Bytes);
        Assert.Equal(new[] { second.Id }, Order(index)); // the first one's place is not the second's
    }

    [Fact]
    public void Abandoned_claims_do_not_grow_the_queue_past_twice_the_entries_plus_64()
    {
        var index = new DeduplicationIndex(capacity: 1_000, maxBytes: 1_000_000, Window);
        DeduplicationEntry live = Answered(index);

        // Each abandoned claim leaves its place: 67 of them leave 68 places (the bound at 2 entries is 2 × 2 + 64 = 68).
        for (int i = 0; i < 67; i++)
        {
            index.Remove(Claim(index));
        }

        Assert.Equal(68, index.Queued);
        DeduplicationEntry last = Claim(index); // the 69th place: over the bound, so the stale ones go
        Assert.Equal(2, index.Queued);
        Assert.Equal(new[] { live.Id, last.Id }, Order(index));

        for (int i = 0; i < 1_000; i++)
        {
            index.Remove(Claim(index));
            Assert.InRange(index.Queued, 2, (2 * (index.Count + 1)) + 64);
        }
    }
}

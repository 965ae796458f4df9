using System.Buffers.Binary;
using Xunit;

namespace RpcGen.Tests.Deduplication;

/// <summary>The ids a client gives deduplicated calls: UUID version 7, time first, unique, random where not time.</summary>
public class CallIdsTests
{
    [Fact]
    public void An_id_is_a_version_7_uuid_with_its_time_in_the_first_48_bits()
    {
        long now = new DateTimeOffset(2026, 12, 7, 4, 30, 0, 123, TimeSpan.Zero).ToUnixTimeMilliseconds();
        Guid id = CallIds.Next(now);

        byte[] bytes = id.ToByteArray(bigEndian: true);
        Assert.Equal(now, (long)(BinaryPrimitives.ReadUInt64BigEndian(bytes) >> 16));
        Assert.Equal(7, id.Version);
        Assert.Equal(0x80, bytes[8] & 0xC0); // RFC 9562 variant
        Assert.StartsWith(now.ToString("x12", System.Globalization.CultureInfo.InvariantCulture)[..8], id.ToString("N"), StringComparison.Ordinal);
    }

    [Fact]
    public void Ids_sort_by_time_as_big_endian_bytes_and_as_strings()
    {
        var ids = Enumerable.Range(0, 50).Select(i => CallIds.Next(1_700_000_000_000 + (i * 997L))).ToList();

        Assert.Equal(ids, ids.OrderBy(id => id.ToString("N"), StringComparer.Ordinal));
        Assert.Equal(ids, ids.OrderBy(id => Convert.ToHexString(id.ToByteArray(bigEndian: true)), StringComparer.Ordinal));
    }

    [Fact]
    public void Ids_of_one_millisecond_differ_across_refills_and_threads()
    {
        // 3 threads × 1,000 ids: each thread's 4 KiB batch (256 ids) is refilled several times.
        var all = new System.Collections.Concurrent.ConcurrentBag<Guid>();
        Parallel.For(0, 3, _ =>
        {
            for (int i = 0; i < 1_000; i++)
            {
                all.Add(CallIds.Next(1_700_000_000_000));
            }
        });

        Assert.Equal(3_000, all.Distinct().Count());

        // The 74 random bits are random: every one of them is set in some id and clear in another.
        UInt128 ones = 0, zeros = 0;
        foreach (Guid id in all)
        {
            UInt128 bits = BinaryPrimitives.ReadUInt128BigEndian(id.ToByteArray(bigEndian: true));
            ones |= bits;
            zeros |= ~bits;
        }

        UInt128 randomBits = ((UInt128)0x0FFF << 64) | ((UInt128)0x3FFF_FFFF_FFFF_FFFF);
        Assert.Equal(randomBits, ones & zeros & randomBits);
    }

    [Fact]
    public void Next_stamps_the_current_time()
    {
        long before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Guid id = CallIds.Next();
        long after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        long stamped = (long)(BinaryPrimitives.ReadUInt64BigEndian(id.ToByteArray(bigEndian: true)) >> 16);
        Assert.InRange(stamped, before, after);
    }
}

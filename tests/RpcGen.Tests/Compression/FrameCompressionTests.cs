using System.Buffers.Binary;
using System.IO.Compression;
using System.Text.Json;
using RpcGen.Tests.Support;
using RpcGen.Transport;
using Xunit;

namespace RpcGen.Tests.Compression;

/// <summary>The compressed body's rules: round trips, the tenth that must be saved, and inflation that cannot grow.</summary>
public sealed class FrameCompressionTests
{
    private static readonly byte[] s_json =
        JsonSerializer.SerializeToUtf8Bytes(Compressed.Readings(64), new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static TheoryData<RpcCompression> Algorithms => new() { RpcCompression.Gzip, RpcCompression.Brotli, RpcCompression.Zstd };

    private static byte[] Compress(RpcCompression algorithm, byte[] data, CompressionLevel level = CompressionLevel.Fastest)
    {
        byte[] target = new byte[data.Length + 64];
        Assert.True(FrameCompression.TryCompress(algorithm, level, data, target, out int written));
        return target[..written];
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void JsonRecords_RoundTrip_AtLeastFiveTimesSmaller(RpcCompression algorithm)
    {
        foreach (CompressionLevel level in new[] { CompressionLevel.Fastest, CompressionLevel.Optimal, CompressionLevel.SmallestSize })
        {
            byte[] compressed = Compress(algorithm, s_json, level);
            Assert.True(compressed.Length * 5 <= s_json.Length, $"{algorithm} {level}: {s_json.Length} → {compressed.Length} bytes");
            Assert.Equal(s_json.Length, (int)BinaryPrimitives.ReadUInt32LittleEndian(compressed));

            Assert.Null(FrameCompression.CheckLength(compressed, s_json.Length, out int length));
            byte[] inflated = new byte[length];
            Assert.Null(FrameCompression.TryDecompress((byte)algorithm, compressed, inflated));
            Assert.Equal(s_json, inflated);
        }
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void RandomBytes_AreNotWorthCompressing(RpcCompression algorithm)
    {
        byte[] random = new byte[8192];
        new Random(7).NextBytes(random);
        byte[] target = new byte[random.Length * 2];
        Assert.False(FrameCompression.TryCompress(algorithm, CompressionLevel.Fastest, random, target, out int written));
        Assert.Equal(0, written);
    }

    [Fact]
    public void ATenthMustBeSaved_PrefixIncluded()
    {
        // 1,000 bytes that compress to just over 900 with the prefix are sent as they are; ones that compress well are not.
        byte[] half = new byte[1000];
        new Random(3).NextBytes(half.AsSpan(0, 860));
        byte[] target = new byte[2000];
        bool compressed = FrameCompression.TryCompress(RpcCompression.Zstd, CompressionLevel.Fastest, half, target, out int written);
        if (compressed)
        {
            Assert.True(written <= 900, $"{written} bytes sent for 1,000");
        }

        byte[] zeros = new byte[1000];
        Assert.True(FrameCompression.TryCompress(RpcCompression.Zstd, CompressionLevel.Fastest, zeros, target, out written));
        Assert.True(written <= 900);

        // Too short to save a tenth at all, and a destination too small for the budget: not compressed.
        Assert.False(FrameCompression.TryCompress(RpcCompression.Zstd, CompressionLevel.Fastest, new byte[4], target, out _));
        Assert.False(FrameCompression.TryCompress(RpcCompression.Zstd, CompressionLevel.Fastest, zeros, new byte[4], out _));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void ABomb_IsRefusedByItsDeclaredLength_BeforeAnythingIsInflated(RpcCompression algorithm)
    {
        byte[] bomb = Compress(algorithm, new byte[64 * 1024 * 1024]); // 64 MiB of zeros in under a megabyte
        Assert.True(bomb.Length < 1024 * 1024, $"{bomb.Length}");
        string? problem = FrameCompression.CheckLength(bomb, 4 * 1024 * 1024, out _);
        Assert.Contains("inflates to 67108864 bytes, over the maximum frame size of 4194304", problem);

        long before = GC.GetAllocatedBytesForCurrentThread();
        byte[]? inflated = FrameCompression.Inflate(
            (byte)algorithm, ProtocolConstants.AllCompression, bomb, 4 * 1024 * 1024, out _, out problem, out bool tooLarge);
        Assert.Null(inflated);
        Assert.True(tooLarge);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 * 1024, "nothing was inflated");
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void ABomb_ThatLiesAboutItsLength_StopsAtTheDeclaredLength(RpcCompression algorithm)
    {
        byte[] bomb = Compress(algorithm, new byte[16 * 1024 * 1024]);
        BinaryPrimitives.WriteUInt32LittleEndian(bomb, 1024); // claims 1 KiB
        Assert.Null(FrameCompression.CheckLength(bomb, 4 * 1024 * 1024, out int length));
        Assert.Equal(1024, length);

        byte[] destination = new byte[length];
        string? problem = FrameCompression.TryDecompress((byte)algorithm, bomb, destination);
        Assert.NotNull(problem);
        Assert.Contains(algorithm.ToString(), problem);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void AShortStream_OrGarbage_IsRefused(RpcCompression algorithm)
    {
        byte[] compressed = Compress(algorithm, s_json);
        BinaryPrimitives.WriteUInt32LittleEndian(compressed, (uint)s_json.Length + 10); // claims 10 bytes more than it holds
        Assert.Contains($"not its declared {s_json.Length + 10}",
            FrameCompression.TryDecompress((byte)algorithm, compressed, new byte[s_json.Length + 10]));

        byte[] garbage = new byte[200];
        new Random(11).NextBytes(garbage);
        BinaryPrimitives.WriteUInt32LittleEndian(garbage, 1000);
        Assert.Contains(algorithm.ToString(), FrameCompression.TryDecompress((byte)algorithm, garbage, new byte[1000]));
    }

    [Fact]
    public void Inflate_RefusesUnannouncedAlgorithms_AndShortBodies()
    {
        byte[] compressed = Compress(RpcCompression.Zstd, s_json);
        Assert.Null(FrameCompression.Inflate(3, 1 << 1, compressed, int.MaxValue, out _, out string? problem, out bool tooLarge));
        Assert.Equal("a body compressed with algorithm 3, which this side did not announce", problem);
        Assert.False(tooLarge);

        Assert.Null(FrameCompression.Inflate(200, ProtocolConstants.AllCompression, compressed, int.MaxValue, out _, out problem, out _));
        Assert.Contains("did not announce", problem);

        Assert.Null(FrameCompression.Inflate(3, ProtocolConstants.AllCompression, new byte[3], int.MaxValue, out _, out problem, out tooLarge));
        Assert.Equal("a compressed body shorter than its 4-byte length", problem);
        Assert.False(tooLarge);

        // Four bytes that declare a gigabyte: too large, though nothing follows them.
        Assert.Null(FrameCompression.Inflate(3, ProtocolConstants.AllCompression, new byte[] { 0, 0, 0, 64 }, 1024, out _, out problem, out tooLarge));
        Assert.True(tooLarge);
        Assert.Equal("a body compressed with unknown algorithm 9", FrameCompression.TryDecompress(9, compressed, new byte[10]));

        byte[]? inflated = FrameCompression.Inflate(3, ProtocolConstants.AllCompression, compressed, s_json.Length, out int length, out problem, out _);
        Assert.Null(problem);
        Assert.Equal(s_json, inflated.AsSpan(0, length).ToArray());
    }

    [Fact]
    public void Policy_CompressesOnlyWhatItShould()
    {
        var policy = new RpcCompressionPolicy();
        Assert.Equal(RpcCompression.Zstd, policy.For(1024, ProtocolConstants.AllCompression, encrypted: false));
        Assert.Equal(RpcCompression.None, policy.For(1023, ProtocolConstants.AllCompression, encrypted: false)); // under MinSize
        Assert.Equal(RpcCompression.None, policy.For(4096, 1 << 1 | 1 << 2, encrypted: false));            // the peer does not read it
        Assert.Equal(RpcCompression.None, policy.For(4096, 0, encrypted: false));                          // a peer that predates it
        Assert.Equal(RpcCompression.None, policy.For(4096, ProtocolConstants.AllCompression, encrypted: true)); // TLS without opt-in
        policy.AllowOverTls = true;
        Assert.Equal(RpcCompression.Zstd, policy.For(4096, ProtocolConstants.AllCompression, encrypted: true));
        policy.Algorithm = RpcCompression.None;
        Assert.Equal(RpcCompression.None, policy.For(4096, ProtocolConstants.AllCompression, encrypted: false));
        policy = new RpcCompressionPolicy { Algorithm = RpcCompression.Gzip, MinSize = 0 };
        Assert.Equal(RpcCompression.Gzip, policy.For(0, 1 << 1, encrypted: false));

        // Each end of each range is taken; past it, the error names the attribute's property.
        policy.Algorithm = RpcCompression.Zstd;
        policy.Level = CompressionLevel.SmallestSize;
        policy.Level = CompressionLevel.Optimal;
        policy.MinSize = 0;
        Assert.Equal((RpcCompression.Zstd, CompressionLevel.Optimal, 0), (policy.Algorithm, policy.Level, policy.MinSize));
        Assert.Contains("[Compress(MinSize)] must be 0 or positive.", Assert.Throws<ArgumentOutOfRangeException>(() => policy.MinSize = -1).Message);
        Assert.Contains("[Compress(Algorithm)] must be None, Gzip, Brotli or Zstd.",
            Assert.Throws<ArgumentOutOfRangeException>(() => policy.Algorithm = (RpcCompression)4).Message);
        Assert.Contains("[Compress(Level)] must be a defined CompressionLevel.",
            Assert.Throws<ArgumentOutOfRangeException>(() => policy.Level = (CompressionLevel)4).Message);
    }

    [Fact]
    public void Settings_RoundTrip_AndUnknownSettingsAreSkipped()
    {
        byte[] frame = new byte[SettingsFrame.Length];
        SettingsFrame.Write(frame, ProtocolConstants.AllCompression);
        Assert.Equal((byte)FrameType.Settings, frame[4]);
        Assert.True(SettingsFrame.TryRead(frame.AsSpan(ProtocolConstants.HeaderLength), out int accepted));
        Assert.Equal(0b1110, accepted);

        byte[] body = new byte[18];
        BinaryPrimitives.WriteUInt16LittleEndian(body, 99);                // unknown: skipped
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(6), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(8), 0xFFFF); // bits this side does not know are dropped
        Assert.True(SettingsFrame.TryRead(body, out accepted));
        Assert.Equal(0b1110, accepted);
        Assert.False(SettingsFrame.TryRead(body.AsSpan(0, 7), out _));
    }
}

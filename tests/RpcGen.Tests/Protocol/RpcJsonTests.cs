using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using RpcGen.Serialization;
using Xunit;

namespace RpcGen.Tests.Protocol;

/// <summary>
/// RpcJson's fast path for int, long, bool and string must write and read exactly what System.Text.Json does, and must
/// step aside for anything it does not cover: a converter of the user's, numbers written as strings, strings read as
/// numbers, malformed input (whose error must be the serializer's).
/// </summary>
public sealed class RpcJsonTests
{
    private static readonly JsonSerializerOptions s_web = RpcDefaults.CreateSerializerOptions();

    private static JsonTypeInfo<T> Info<T>(JsonSerializerOptions options) => (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));

    private static string WriteFast<T>(T value, JsonTypeInfo<T> info)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            RpcJson.Write(writer, value, info);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static string WriteSerializer<T>(T value, JsonTypeInfo<T> info)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            JsonSerializer.Serialize(writer, value, info);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static IEnumerable<object?[]> Strings() =>
    [
        [null], [""], ["plain"], ["quote \" and backslash \\"], ["<script>&'"], ["é ü 中 😀"], ["\u0001\t\n"],
    ];

    [Fact]
    public void Writes_numbers_and_booleans_as_the_serializer_does()
    {
        foreach (int value in new[] { 0, 1, -1, int.MaxValue, int.MinValue, 42 })
        {
            Assert.Equal(WriteSerializer(value, Info<int>(s_web)), WriteFast(value, Info<int>(s_web)));
        }

        foreach (long value in new[] { 0L, long.MaxValue, long.MinValue, 1L << 53 })
        {
            Assert.Equal(WriteSerializer(value, Info<long>(s_web)), WriteFast(value, Info<long>(s_web)));
        }

        Assert.Equal("true", WriteFast(true, Info<bool>(s_web)));
        Assert.Equal("false", WriteFast(false, Info<bool>(s_web)));
    }

    [Theory]
    [MemberData(nameof(Strings))]
    public void Writes_and_reads_strings_as_the_serializer_does(string? value)
    {
        string written = WriteFast(value, Info<string?>(s_web));
        Assert.Equal(WriteSerializer(value, Info<string?>(s_web)), written);
        Assert.Equal(value, RpcJson.Read(Encoding.UTF8.GetBytes(written), Info<string>(s_web)));
    }

    [Fact]
    public void Numbers_written_as_strings_are_left_to_the_serializer()
    {
        var options = new JsonSerializerOptions(s_web) { NumberHandling = JsonNumberHandling.WriteAsString };
        Assert.Equal("\"7\"", WriteFast(7, Info<int>(options)));
        Assert.Equal("\"-9\"", WriteFast(-9L, Info<long>(options)));
    }

    [Fact]
    public void A_number_handling_set_on_the_type_info_itself_is_honoured()
    {
        var options = new JsonSerializerOptions(s_web)
        {
            TypeInfoResolver = new DefaultJsonTypeInfoResolver
            {
                Modifiers = { static info => info.NumberHandling = info.Type == typeof(int) ? JsonNumberHandling.WriteAsString : info.NumberHandling },
            },
        };
        Assert.Equal("\"7\"", WriteSerializer(7, Info<int>(options)));
        Assert.Equal("\"7\"", WriteFast(7, Info<int>(options)));
    }

    [Fact]
    public void A_converter_of_the_users_is_used_for_writing_and_reading()
    {
        var options = new JsonSerializerOptions(s_web);
        options.Converters.Add(new HexConverter());
        Assert.Equal("\"0x1F\"", WriteFast(31, Info<int>(options)));
        Assert.Equal(31, RpcJson.Read("\"0x1F\""u8, Info<int>(options)));
        Assert.Equal(0x16, RpcJson.Read("16"u8, Info<int>(options))); // the number token too is the converter's (hex), not 16
    }

    [Fact]
    public void Reads_numbers_booleans_and_the_web_defaults_number_strings()
    {
        Assert.Equal(-123, RpcJson.Read("-123"u8, Info<int>(s_web)));
        Assert.Equal(long.MinValue, RpcJson.Read(Encoding.UTF8.GetBytes(long.MinValue.ToString(System.Globalization.CultureInfo.InvariantCulture)), Info<long>(s_web)));
        Assert.True(RpcJson.Read("true"u8, Info<bool>(s_web)));
        Assert.False(RpcJson.Read("false"u8, Info<bool>(s_web)));
        Assert.Equal(5, RpcJson.Read("\"5\""u8, Info<int>(s_web))); // AllowReadingFromString (web defaults): the serializer reads it
        Assert.Equal(8, RpcJson.Read(" 8 "u8, Info<int>(s_web)));    // whitespace around: the serializer reads it
        Assert.Null(RpcJson.Read("null"u8, Info<string>(s_web)));
    }

    [Theory]
    [InlineData("1.5")]
    [InlineData("99999999999")]
    [InlineData("true")]
    [InlineData("1 2")]
    [InlineData("[1]")]
    public void Input_the_fast_path_cannot_read_fails_as_the_serializer_fails(string json)
    {
        byte[] payload = Encoding.UTF8.GetBytes(json);
        Exception expected = Record.Exception(() => JsonSerializer.Deserialize(payload, Info<int>(s_web)));
        Exception actual = Record.Exception(() => RpcJson.Read(payload, Info<int>(s_web)));
        Assert.NotNull(expected);
        Assert.NotNull(actual);
        Assert.Equal(expected.GetType(), actual.GetType());
        Assert.Equal(expected.Message, actual.Message);
    }

    [Fact]
    public void The_argument_reader_reads_each_type_and_reports_a_bad_argument_by_name()
    {
        byte[] payload = "[7, -8, true, \"x\\u0041\", null, \"9\"]"u8.ToArray();
        var reader = new RpcArgumentReader(payload, "svc/M");
        Assert.True(reader.TryRead(Info<int>(s_web), "a", out int a));
        Assert.True(reader.TryRead(Info<long>(s_web), "b", out long b));
        Assert.True(reader.TryRead(Info<bool>(s_web), "c", out bool c));
        Assert.True(reader.TryRead(Info<string>(s_web), "d", out string? d));
        Assert.True(reader.TryRead(Info<string>(s_web), "e", out string? e));
        Assert.True(reader.TryRead(Info<int>(s_web), "f", out int f));
        reader.End();
        Assert.Equal((7, -8L, true, "xA", (string?)null, 9), (a, b, c, d, e, f));

        RpcException error = Assert.Throws<RpcException>(() =>
        {
            var bad = new RpcArgumentReader("[1.5]"u8, "svc/M");
            bad.TryRead(Info<int>(s_web), "count", out _);
        });
        Assert.Equal(RpcStatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("argument 'count' could not be read as Int32", error.Message);

        // A token the fast path does not read (null for an int, an object for a string) is the serializer's to refuse.
        foreach ((string json, string name) in new[] { ("[null]", "Int32"), ("[{}]", "String") })
        {
            RpcException refused = Assert.Throws<RpcException>(() =>
            {
                var bad = new RpcArgumentReader(Encoding.UTF8.GetBytes(json), "svc/M");
                if (name == "Int32")
                {
                    bad.TryRead(Info<int>(s_web), "x", out _);
                }
                else
                {
                    bad.TryRead(Info<string>(s_web), "x", out _);
                }
            });
            Assert.Contains($"argument 'x' could not be read as {name}", refused.Message);
        }
    }

    private sealed class HexConverter : JsonConverter<int>
    {
        public override int Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            string text = reader.TokenType == JsonTokenType.Number ? reader.GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture) : reader.GetString()!;
            return Convert.ToInt32(text.StartsWith("0x", StringComparison.Ordinal) ? text[2..] : text, 16);
        }

        public override void Write(Utf8JsonWriter writer, int value, JsonSerializerOptions options) =>
            writer.WriteStringValue($"0x{value:X}");
    }
}

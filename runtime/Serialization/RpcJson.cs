using System;
using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace RpcGen.Serialization;

/// <summary>
/// Writes and reads one argument or result. For <see cref="int"/>, <see cref="long"/>, <see cref="bool"/> and
/// <see cref="string"/> values whose type info uses System.Text.Json's own converter (source-generated and reflection
/// contexts do, unless the options add a converter for the type) and does not write numbers as strings it calls <see cref="Utf8JsonWriter"/> and
/// <see cref="Utf8JsonReader"/> directly: the same bytes and values as <see cref="JsonSerializer"/>, without its
/// per-value setup (a root-level serializer call costs more than writing or reading the number). Anything else (a
/// custom converter, numbers written as strings, a token the fast path does not expect) goes through
/// <see cref="JsonSerializer"/>, so its behaviour and its errors are exactly the serializer's. Used by generated proxies.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class RpcJson
{
    /// <summary>JsonElement's contract (no reflection, so under Native AOT too), for JSON read and written as it is.</summary>
    internal static readonly JsonTypeInfo<JsonElement> ElementType = JsonMetadataServices.CreateValueInfo<JsonElement>(
        new JsonSerializerOptions { TypeInfoResolver = JsonTypeInfoResolver.Combine() }, JsonMetadataServices.JsonElementConverter);

    /// <summary>string's contract, without reflection.</summary>
    internal static readonly JsonTypeInfo<string?> StringType = JsonMetadataServices.CreateValueInfo<string?>(
        new JsonSerializerOptions { TypeInfoResolver = JsonTypeInfoResolver.Combine() }, JsonMetadataServices.StringConverter);

    /// <summary>Writes <paramref name="value"/> as <see cref="JsonSerializer.Serialize{TValue}(Utf8JsonWriter, TValue, JsonTypeInfo{TValue})"/> does.</summary>
    public static void Write<T>(Utf8JsonWriter writer, T value, JsonTypeInfo<T> typeInfo)
    {
        if (typeof(T) == typeof(int) && IsPlain(typeInfo, JsonMetadataServices.Int32Converter) && !WritesNumbersAsStrings(typeInfo))
        {
            writer.WriteNumberValue((int)(object)value!);
        }
        else if (typeof(T) == typeof(long) && IsPlain(typeInfo, JsonMetadataServices.Int64Converter) && !WritesNumbersAsStrings(typeInfo))
        {
            writer.WriteNumberValue((long)(object)value!);
        }
        else if (typeof(T) == typeof(bool) && IsPlain(typeInfo, JsonMetadataServices.BooleanConverter))
        {
            writer.WriteBooleanValue((bool)(object)value!);
        }
        else if (typeof(T) == typeof(string) && IsPlain(typeInfo, JsonMetadataServices.StringConverter))
        {
            if (value is string text)
            {
                writer.WriteStringValue(text);
            }
            else
            {
                writer.WriteNullValue();
            }
        }
        else
        {
            JsonSerializer.Serialize(writer, value, typeInfo);
        }
    }

    /// <summary>
    /// Reads the value <paramref name="reader"/> is on, when the fast path applies to it; false (reader untouched):
    /// read it with <see cref="JsonSerializer"/>.
    /// </summary>
    internal static bool TryRead<T>(ref Utf8JsonReader reader, JsonTypeInfo<T> typeInfo, out T value)
    {
        value = default!;
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                if (typeof(T) == typeof(int) && reader.TryGetInt32(out int int32) && IsPlain(typeInfo, JsonMetadataServices.Int32Converter))
                {
                    value = (T)(object)int32;
                    return true;
                }

                if (typeof(T) == typeof(long) && reader.TryGetInt64(out long int64) && IsPlain(typeInfo, JsonMetadataServices.Int64Converter))
                {
                    value = (T)(object)int64;
                    return true;
                }

                return false;
            case JsonTokenType.True or JsonTokenType.False:
                if (typeof(T) == typeof(bool) && IsPlain(typeInfo, JsonMetadataServices.BooleanConverter))
                {
                    value = (T)(object)(reader.TokenType == JsonTokenType.True);
                    return true;
                }

                return false;
            case JsonTokenType.String:
                if (typeof(T) == typeof(string) && IsPlain(typeInfo, JsonMetadataServices.StringConverter))
                {
                    value = (T)(object)reader.GetString()!;
                    return true;
                }

                return false;
            default:
                return false;
        }
    }

    /// <summary>
    /// Reads a whole payload that holds one value, as <see cref="JsonSerializer.Deserialize{TValue}(ReadOnlySpan{byte}, JsonTypeInfo{TValue})"/> does.
    /// </summary>
    internal static T Read<T>(ReadOnlySpan<byte> payload, JsonTypeInfo<T> typeInfo)
    {
        if (typeof(T) == typeof(int) || typeof(T) == typeof(long) || typeof(T) == typeof(bool) || typeof(T) == typeof(string))
        {
            try
            {
                var reader = new Utf8JsonReader(payload);
                if (reader.Read() && TryRead(ref reader, typeInfo, out T value) && reader.BytesConsumed == payload.Length)
                {
                    return value;
                }
            }
            catch (JsonException)
            {
                // Not what the fast path reads (a comment, say): the serializer decides, with its options.
            }
        }

        return JsonSerializer.Deserialize(payload, typeInfo)!;
    }

    /// <summary>True when <paramref name="typeInfo"/> reads and writes with System.Text.Json's own converter for its type.</summary>
    private static bool IsPlain<T>(JsonTypeInfo<T> typeInfo, JsonConverter builtIn) => ReferenceEquals(typeInfo.Converter, builtIn);

    /// <summary>
    /// True when numbers of this type are written as JSON strings (<see cref="JsonNumberHandling.WriteAsString"/>). Reading
    /// a number token is the same under every number handling (<see cref="JsonNumberHandling.AllowReadingFromString"/>,
    /// which the web defaults set, only adds reading strings, which the fast path leaves to the serializer).
    /// </summary>
    private static bool WritesNumbersAsStrings<T>(JsonTypeInfo<T> typeInfo) =>
        ((typeInfo.NumberHandling ?? typeInfo.Options.NumberHandling) & JsonNumberHandling.WriteAsString) != 0;
}

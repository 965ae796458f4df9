using System;
using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using RpcGen.Balancing;
using RpcGen.Descriptors;
using RpcGen.Serialization;

namespace RpcGen.Client.Internal;

/// <summary>
/// The arguments of a call made without generated code (<see cref="RpcClient.InvokeJsonAsync"/>): JSON checked once,
/// sent as it is, with the hash of its <c>[HashKey]</c> arguments computed as a proxy computes it from typed values.
/// </summary>
internal readonly struct RpcJsonArguments : IRpcResumableArguments<RpcJsonArguments>
{
    /// <summary>JsonElement's contract, for results and items read without generated code.</summary>
    public static JsonTypeInfo<JsonElement> ElementType => RpcJson.ElementType;

    private static readonly JsonDocumentOptions s_parse = new() { MaxDepth = 64 };

    private readonly RpcMethodDescriptor _method;
    private readonly ReadOnlyMemory<byte> _json;
    private readonly ulong _hashKey;

    private RpcJsonArguments(RpcMethodDescriptor method, ReadOnlyMemory<byte> json, ulong hashKey)
    {
        _method = method;
        _json = json;
        _hashKey = hashKey;
    }

    /// <summary>Checks <paramref name="json"/> (an object, an array, or empty for none) and hashes its <c>[HashKey]</c> arguments.</summary>
    public static RpcJsonArguments Create(RpcMethodDescriptor method, ReadOnlyMemory<byte> json)
    {
        if (json.IsEmpty)
        {
            return new RpcJsonArguments(method, "[]"u8.ToArray(), method.HashKeyParameters.Count == 0 ? 0 : HashOfMissing(method));
        }

        if (method.HashKeyParameters.Count == 0)
        {
            Check(method, json.Span); // no hash to compute: a reader's pass, no document
            return new RpcJsonArguments(method, json, 0);
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(json, s_parse);
            JsonElement root = document.RootElement;
            if (root.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array))
            {
                throw Invalid(method, "the arguments are neither a JSON array nor a JSON object", null);
            }

            ulong hash = 0;
            for (int i = 0; i < method.HashKeyParameters.Count; i++)
            {
                string name = method.HashKeyParameters[i];
                ulong one = Find(method, root, name, out JsonElement value) ? HashOf(method, name, value) : HashOfNull();
                hash = i == 0 ? one : RpcHash.Combine(hash, one);
            }

            return new RpcJsonArguments(method, json, hash);
        }
        catch (JsonException ex)
        {
            throw Invalid(method, $"the arguments are not valid JSON: {ex.Message}", ex);
        }
    }

    /// <summary>Checks that <paramref name="json"/> is one well-formed JSON object or array, and nothing after it.</summary>
    private static void Check(RpcMethodDescriptor method, ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
            {
                throw Invalid(method, "the arguments are neither a JSON array nor a JSON object", null);
            }

            reader.Skip();
            reader.Read(); // throws when anything but white space follows
        }
        catch (JsonException ex)
        {
            throw Invalid(method, $"the arguments are not valid JSON: {ex.Message}", ex);
        }
    }

    public void Write(Utf8JsonWriter writer) => writer.WriteRawValue(_json.Span, skipInputValidation: true);

    public ulong GetHashKey() => _hashKey;

    /// <summary>These arguments with the <c>[ResumeFrom]</c> argument set to <paramref name="position"/> (named or positional, as given).</summary>
    public RpcJsonArguments ResumeAfter(long position)
    {
        string name = _method.ResumeFromParameter!;
        int index = IndexOf(_method, name);
        var output = new ArrayBufferWriter<byte>(_json.Length + 24);
        using (var writer = new Utf8JsonWriter(output))
        using (JsonDocument document = JsonDocument.Parse(_json, s_parse))
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                writer.WriteStartObject();
                foreach (JsonProperty property in root.EnumerateObject())
                {
                    if (!property.NameEquals(name))
                    {
                        property.WriteTo(writer);
                    }
                }

                writer.WriteNumber(name, position);
                writer.WriteEndObject();
            }
            else
            {
                writer.WriteStartArray();
                int i = 0;
                foreach (JsonElement element in root.EnumerateArray())
                {
                    if (i++ == index)
                    {
                        writer.WriteNumberValue(position);
                    }
                    else
                    {
                        element.WriteTo(writer);
                    }
                }

                for (; i <= index; i++)
                {
                    // Fill the arguments before it with null: only a stream's trailing optional arguments may be left out.
                    if (i == index)
                    {
                        writer.WriteNumberValue(position);
                    }
                    else
                    {
                        writer.WriteNullValue();
                    }
                }

                writer.WriteEndArray();
            }
        }

        return new RpcJsonArguments(_method, output.WrittenMemory, _hashKey);
    }

    private static bool Find(RpcMethodDescriptor method, JsonElement root, string name, out JsonElement value)
    {
        if (root.ValueKind == JsonValueKind.Object)
        {
            return root.TryGetProperty(name, out value);
        }

        int index = IndexOf(method, name);
        if (index < root.GetArrayLength())
        {
            value = root[index];
            return true;
        }

        value = default;
        return false;
    }

    private static int IndexOf(RpcMethodDescriptor method, string name)
    {
        for (int i = 0; i < method.Parameters.Count; i++)
        {
            if (method.Parameters[i].Name == name)
            {
                return i;
            }
        }

        throw new InvalidOperationException($"'{method.FullName}' has no parameter '{name}'.");
    }

    private static ulong HashOfMissing(RpcMethodDescriptor method)
    {
        ulong hash = 0;
        for (int i = 0; i < method.HashKeyParameters.Count; i++)
        {
            hash = i == 0 ? HashOfNull() : RpcHash.Combine(hash, HashOfNull());
        }

        return hash;
    }

    private static ulong HashOfNull() => RpcHash.Of<object?>(null, null!);

    /// <summary>
    /// The hash a proxy computes from the typed value (<see cref="RpcHash"/>): strings by their characters, the primitives
    /// RpcHash takes by their memory parsed from the JSON, anything else by its JSON written compactly.
    /// </summary>
    private static ulong HashOf(RpcMethodDescriptor method, string name, JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return HashOfNull();
        }

        string type = method.Parameters[IndexOf(method, name)].Type;
        try
        {
            return type switch
            {
                "string" or "string?" when value.ValueKind == JsonValueKind.String => RpcHash.String(value.GetString()!),
                "int" => RpcHash.Of(value.GetInt32(), null!),
                "long" => RpcHash.Of(value.GetInt64(), null!),
                "uint" => RpcHash.Of(value.GetUInt32(), null!),
                "ulong" => RpcHash.Of(value.GetUInt64(), null!),
                "short" => RpcHash.Of(value.GetInt16(), null!),
                "ushort" => RpcHash.Of(value.GetUInt16(), null!),
                "byte" => RpcHash.Of(value.GetByte(), null!),
                "sbyte" => RpcHash.Of(value.GetSByte(), null!),
                "bool" => RpcHash.Of(value.GetBoolean(), null!),
                "float" => RpcHash.Of(value.GetSingle(), null!),
                "double" => RpcHash.Of(value.GetDouble(), null!),
                "char" when value.GetString() is { Length: 1 } c => RpcHash.Of(c[0], null!),
                "System.Guid" => RpcHash.Of(value.GetGuid(), null!),
                "System.DateTime" => RpcHash.Of(value.GetDateTime(), null!),
                "System.TimeSpan" => RpcHash.Of(TimeSpan.Parse(value.GetString()!, CultureInfo.InvariantCulture), null!),
                "System.DateOnly" => RpcHash.Of(DateOnly.Parse(value.GetString()!, CultureInfo.InvariantCulture), null!),
                "System.TimeOnly" => RpcHash.Of(TimeOnly.Parse(value.GetString()!, CultureInfo.InvariantCulture), null!),
                _ => HashOfJson(value),
            };
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException or OverflowException)
        {
            throw Invalid(method, $"argument '{name}' could not be read as {type}: {ex.Message}", ex);
        }
    }

    private static ulong HashOfJson(JsonElement value)
    {
        var output = new ArrayBufferWriter<byte>(64);
        using (var writer = new Utf8JsonWriter(output))
        {
            value.WriteTo(writer);
        }

        return RpcHash.Bytes(output.WrittenSpan);
    }

    private static RpcException Invalid(RpcMethodDescriptor method, string problem, Exception? inner) =>
        new(RpcStatusCode.InvalidArgument, $"Invalid request for '{method.FullName}': {problem}.", inner);
}


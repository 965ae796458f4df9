using System;
using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace RpcGen.Serialization;

/// <summary>
/// Reads a request's arguments one parameter at a time: a JSON array in parameter order (what generated clients send),
/// or a JSON object of named arguments (what the HTTP gateway and dynamic callers send; an unknown or repeated name is
/// refused). Used by generated dispatchers.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public ref struct RpcArgumentReader
{
    /// <summary>The most named arguments one request may carry.</summary>
    private const int MaxNamedArguments = 64;

    private Utf8JsonReader _reader;
    private readonly string _method;
    private bool _ended;

    // Named arguments: the reader at the object's start, how many properties it has, which ones a parameter read.
    private readonly bool _named;
    private readonly int _properties;
    private ulong _read;

    /// <summary>
    /// Starts reading <paramref name="payload"/>, which must be a JSON array (or empty for no arguments), the request
    /// of the method named <paramref name="method"/> (its full name, for error messages).
    /// </summary>
    public RpcArgumentReader(ReadOnlySpan<byte> payload, string method)
    {
        _method = method;
        _reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = 64 });
        _ended = payload.IsEmpty;
        if (_ended)
        {
            return;
        }

        try
        {
            if (!_reader.Read() || _reader.TokenType is not (JsonTokenType.StartArray or JsonTokenType.StartObject))
            {
                throw Invalid("the arguments are neither a JSON array nor a JSON object", null);
            }

            if (_reader.TokenType == JsonTokenType.StartObject)
            {
                _named = true;
                _properties = CountProperties(_reader);
            }
        }
        catch (JsonException ex)
        {
            throw Invalid("the arguments are not valid JSON", ex);
        }
    }

    /// <summary>Reads the next argument; false when the array has ended (the caller sent fewer arguments).</summary>
    public bool TryRead<T>(JsonTypeInfo<T> typeInfo, string parameterName, out T value)
    {
        value = default!;
        if (_named)
        {
            return TryReadNamed(typeInfo, parameterName, out value);
        }

        if (_ended)
        {
            return false;
        }

        try
        {
            if (!_reader.Read())
            {
                throw Invalid("the argument array is truncated", null);
            }

            if (_reader.TokenType == JsonTokenType.EndArray)
            {
                _ended = true;
                return false;
            }

            if (!RpcJson.TryRead(ref _reader, typeInfo, out value))
            {
                value = JsonSerializer.Deserialize(ref _reader, typeInfo)!;
            }

            return true;
        }
        catch (JsonException ex)
        {
            throw Invalid($"argument '{parameterName}' could not be read as {typeof(T).Name}: {ex.Message}", ex);
        }
        catch (NotSupportedException ex)
        {
            throw Invalid($"argument '{parameterName}' could not be read as {typeof(T).Name}: {ex.Message}", ex);
        }
    }

    /// <summary>Throws for a required argument the caller did not send.</summary>
    public readonly T Missing<T>(string parameterName) =>
        throw Invalid($"required argument '{parameterName}' is missing", null);

    /// <summary>
    /// Skips arguments this version does not know (sent by a newer caller) and checks the array is well formed; for named
    /// arguments, refuses a name no parameter read.
    /// </summary>
    public void End()
    {
        if (_named)
        {
            EndNamed();
            return;
        }

        try
        {
            while (!_ended)
            {
                if (!_reader.Read())
                {
                    throw Invalid("the argument array is truncated", null);
                }

                if (_reader.TokenType == JsonTokenType.EndArray)
                {
                    _ended = true;
                    break;
                }

                _reader.Skip();
            }
        }
        catch (JsonException ex)
        {
            throw Invalid("the arguments are not valid JSON", ex);
        }
    }

    /// <summary>Counts the object's properties, checking it is well formed and that nothing follows it.</summary>
    private readonly int CountProperties(Utf8JsonReader scan)
    {
        int count = 0;
        while (scan.Read() && scan.TokenType == JsonTokenType.PropertyName)
        {
            if (++count > MaxNamedArguments)
            {
                throw Invalid($"more than {MaxNamedArguments} named arguments", null);
            }

            scan.Read();
            scan.Skip();
        }

        scan.Read(); // throws a JsonException when anything but white space follows the object
        return count;
    }

    private bool TryReadNamed<T>(JsonTypeInfo<T> typeInfo, string parameterName, out T value)
    {
        value = default!;
        Utf8JsonReader scan = _reader;
        Utf8JsonReader found = default;
        int index = -1;
        int at = -1;
        while (scan.Read() && scan.TokenType == JsonTokenType.PropertyName)
        {
            index++;
            bool match = scan.ValueTextEquals(parameterName);
            scan.Read();
            if (match)
            {
                if (at >= 0)
                {
                    throw Invalid($"argument '{parameterName}' is given twice", null);
                }

                at = index;
                found = scan;
            }

            scan.Skip();
        }

        if (at < 0)
        {
            return false;
        }

        _read |= 1UL << at;
        try
        {
            if (!RpcJson.TryRead(ref found, typeInfo, out value))
            {
                value = JsonSerializer.Deserialize(ref found, typeInfo)!;
            }

            return true;
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException)
        {
            throw Invalid($"argument '{parameterName}' could not be read as {typeof(T).Name}: {ex.Message}", ex);
        }
    }

    /// <summary>Refuses the first property no parameter read: a misspelt name must not be silently dropped.</summary>
    private readonly void EndNamed()
    {
        if (System.Numerics.BitOperations.PopCount(_read) == _properties)
        {
            return;
        }

        Utf8JsonReader scan = _reader;
        for (int index = 0; scan.Read() && scan.TokenType == JsonTokenType.PropertyName; index++)
        {
            if ((_read & (1UL << index)) == 0)
            {
                throw Invalid($"'{scan.GetString()}' is not an argument of this method", null);
            }

            scan.Read();
            scan.Skip();
        }
    }

    private readonly RpcException Invalid(string problem, Exception? inner) =>
        new(RpcStatusCode.InvalidArgument, $"Invalid request for '{_method}': {problem.TrimEnd('.')}.", inner);
}

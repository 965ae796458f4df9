using System;
using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace RpcGen.Serialization;

/// <summary>Reads a request's JSON argument array one parameter at a time. Used by generated dispatchers.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public ref struct RpcArgumentReader
{
    private Utf8JsonReader _reader;
    private readonly string _method;
    private bool _ended;

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
            if (!_reader.Read() || _reader.TokenType != JsonTokenType.StartArray)
            {
                throw Invalid("the arguments are not a JSON array", null);
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

    /// <summary>Skips arguments this version does not know (sent by a newer caller) and checks the array is well formed.</summary>
    public void End()
    {
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

    private readonly RpcException Invalid(string problem, Exception? inner) =>
        new(RpcStatusCode.InvalidArgument, $"Invalid request for '{_method}': {problem}.", inner);
}

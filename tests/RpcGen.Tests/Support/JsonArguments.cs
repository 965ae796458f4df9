using System.Text.Json;
using RpcGen.Serialization;

namespace RpcGen.Tests.Support;

/// <summary>
/// A call's arguments for tests that drive the call path below the proxy: they write the given JSON array, or throw
/// what a serializer throws for a type it cannot write.
/// </summary>
internal readonly struct JsonArguments(string json, Exception? failure = null) : IRpcArguments
{
    public void Write(Utf8JsonWriter writer)
    {
        if (failure is not null)
        {
            throw failure;
        }

        writer.WriteRawValue(json);
    }
}

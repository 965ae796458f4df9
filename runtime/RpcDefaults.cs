using System;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace RpcGen;

internal static class RpcDefaults
{
    /// <summary>
    /// Web defaults (camelCase, case-insensitive reading), the same on both sides. With reflection-based serialization
    /// disabled (trimmed or Native AOT apps) there is no default contract: users pass a source-generated context.
    /// </summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only used when reflection-based serialization is enabled (JsonSerializer.IsReflectionEnabledByDefault).")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Only used when reflection-based serialization is enabled (JsonSerializer.IsReflectionEnabledByDefault).")]
    public static JsonSerializerOptions CreateSerializerOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        if (JsonSerializer.IsReflectionEnabledByDefault)
        {
            options.TypeInfoResolver = new DefaultJsonTypeInfoResolver();
        }

        options.MakeReadOnly();
        return options;
    }

    /// <summary>Explicit options win; else the service's named JSON context; else the defaults.</summary>
    public static JsonSerializerOptions OptionsFor(RpcServiceDescriptor service, JsonSerializerOptions options, bool explicitOptions) =>
        !explicitOptions && service.JsonContext is { } context ? context.Options : options;

    /// <summary>Resolves a contract, with a message that says what to do when the options do not know the type.</summary>
    public static JsonTypeInfo<T> GetTypeInfo<T>(JsonSerializerOptions options)
    {
        try
        {
            return (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException)
        {
            throw new InvalidOperationException(
                $"The serializer options have no JSON contract for '{typeof(T).FullName}'. When reflection-based serialization is off " +
                "(trimming, Native AOT), add the type to your JsonSerializerContext with [JsonSerializable(typeof(...))] and pass " +
                "its options in SerializerOptions.", ex);
        }
    }
}

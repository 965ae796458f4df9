using System;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace RpcGen.Serialization;

internal static class RpcDefaults
{
    /// <summary>
    /// Web defaults (camelCase, case-insensitive reading) plus public fields (so tuples and field-holding types keep
    /// their data), the same on both sides. With reflection-based serialization disabled (trimmed or Native AOT apps)
    /// there is no default contract: the options know no type (an empty resolver, so they can still be made read-only),
    /// and services name a source-generated context instead; a service that does not fails when its proxy or dispatcher
    /// is created, with a message naming the type to add.
    /// </summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only used when reflection-based serialization is enabled (JsonSerializer.IsReflectionEnabledByDefault).")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Only used when reflection-based serialization is enabled (JsonSerializer.IsReflectionEnabledByDefault).")]
    public static JsonSerializerOptions CreateSerializerOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { IncludeFields = true };
        options.TypeInfoResolver = JsonSerializer.IsReflectionEnabledByDefault
            ? new DefaultJsonTypeInfoResolver()
            : JsonTypeInfoResolver.Combine(); // no contracts: every type must come from a named context

        options.MakeReadOnly();
        return options;
    }

    /// <summary>
    /// Resolves the contract of <typeparamref name="T"/> for the service <paramref name="serviceName"/> (the interface
    /// <paramref name="interfaceType"/>): explicit options win, else the service's named JSON context, else the
    /// defaults; with a message that names the type and where to add it when the options do not know it.
    /// </summary>
    public static JsonTypeInfo<T> GetTypeInfo<T>(string serviceName, Type interfaceType, JsonSerializerContext? namedContext, JsonSerializerOptions options, bool explicitOptions)
    {
        JsonSerializerContext? context = explicitOptions ? null : namedContext;
        options = context?.Options ?? options;
        try
        {
            return (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException)
        {
            string type = typeof(T).FullName ?? typeof(T).Name;
            string fix = context is not null
                ? $"add [JsonSerializable(typeof({type}))] to '{context.GetType().FullName}', the JSON context its [RpcService(JsonContext = ...)] names"
                : explicitOptions || JsonSerializer.IsReflectionEnabledByDefault
                    ? $"add [JsonSerializable(typeof({type}))] to the JsonSerializerContext whose options you passed in SerializerOptions"
                    : $"reflection-based JSON is off (trimming or Native AOT), so name a source-generated context with [RpcService(JsonContext = typeof(YourJsonContext))] on '{interfaceType.FullName}' and add [JsonSerializable(typeof({type}))] to it";
            throw new InvalidOperationException($"Service '{serviceName}' ({interfaceType.FullName}) has no JSON contract for '{type}': {fix}.", ex);
        }
    }
}

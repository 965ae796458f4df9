using System;
using System.Collections.Generic;
using System.Text.Json;

namespace RpcGen.Descriptors;

/// <summary>
/// What the describe service answers (docs/describe.md): version 1 of one fixed JSON shape, so a tool never breaks on
/// a server newer or older than itself: services, methods, their streaming shape, effective policies, and JSON schemas
/// of arguments, results and stream items (System.Text.Json's <c>JsonSchemaExporter</c> over the server's own
/// contracts, so a schema says what the server reads and writes).
/// </summary>
internal static class DescribeDocument
{
    /// <summary>The shape's version; a change that could break a reader gets a new one.</summary>
    public const int Version = 1;

    /// <summary>The describe service's wire name (reserved).</summary>
    public const string ServiceName = "rpcgen.describe";

    /// <summary>
    /// The describe service's contract: <c>List()</c> and <c>Describe(string? service = null)</c>, both results JSON;
    /// with <paramref name="authenticated"/>, callers must be authenticated.
    /// </summary>
    public static RpcServiceDescriptor CreateDescriptor(bool authenticated)
    {
        RpcAuthorization? authorization = authenticated ? new RpcAuthorization(false, new[] { Array.Empty<string>() }) : null;
        return new RpcServiceDescriptor(ServiceName, typeof(DescribeDocument), new[]
        {
            new RpcMethodDescriptor(0, "List", "List", Array.Empty<RpcParameterDescriptor>(), "JsonElement", RpcReturnKind.TaskOfT, false, 0,
                idempotent: true, noSideEffects: true, authorization: authorization, resultClrType: typeof(JsonElement)),
            new RpcMethodDescriptor(
                1, "Describe", "Describe", new[] { new RpcParameterDescriptor("service", "string?", hasDefaultValue: true, typeof(string)) },
                "JsonElement", RpcReturnKind.TaskOfT, false, 0, idempotent: true, noSideEffects: true, authorization: authorization,
                resultClrType: typeof(JsonElement)),
        });
    }

    /// <summary>Writes the names of <paramref name="services"/>.</summary>
    public static void WriteList(Utf8JsonWriter writer, IReadOnlyList<RpcServiceDescriptor> services)
    {
        writer.WriteStartObject();
        writer.WriteNumber("version", Version);
        writer.WriteStartArray("services");
        foreach (RpcServiceDescriptor service in services)
        {
            writer.WriteStartObject();
            writer.WriteString("name", service.Name);
            writer.WriteNumber("methods", service.Methods.Count);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    /// <summary>
    /// Writes <paramref name="services"/> in full; <paramref name="contracts"/> resolves a service's JSON contract of a
    /// type (the server's options, or the service's named context).
    /// </summary>
    public static void WriteServices(
        Utf8JsonWriter writer, IReadOnlyList<RpcServiceDescriptor> services, Func<RpcServiceDescriptor, Type, JsonSerializerOptions?> contracts)
    {
        writer.WriteStartObject();
        writer.WriteNumber("version", Version);
        writer.WriteStartArray("services");
        foreach (RpcServiceDescriptor service in services)
        {
            writer.WriteStartObject();
            writer.WriteString("name", service.Name);
            writer.WriteString("interface", service.InterfaceType.FullName);
            writer.WriteStartArray("methods");
            foreach (RpcMethodDescriptor method in service.Methods)
            {
                WriteMethod(writer, method, type => contracts(service, type));
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void WriteMethod(Utf8JsonWriter writer, RpcMethodDescriptor method, Func<Type, JsonSerializerOptions?> contracts)
    {
        writer.WriteStartObject();
        writer.WriteString("name", method.Name);
        writer.WriteString("fullName", method.FullName);
        writer.WriteString("clrName", method.ClrName);
        writer.WriteString("streaming", method.Streaming switch
        {
            RpcStreamingKind.Server => "server",
            RpcStreamingKind.Client => "client",
            RpcStreamingKind.Duplex => "duplex",
            _ => "none",
        });
        writer.WriteStartArray("parameters");
        foreach (RpcParameterDescriptor parameter in method.Parameters)
        {
            writer.WriteStartObject();
            writer.WriteString("name", parameter.Name);
            writer.WriteString("type", parameter.Type);
            writer.WriteBoolean("required", !parameter.HasDefaultValue);
            WriteSchema(writer, parameter.ClrType, contracts);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        WriteType(writer, "result", method.ResultType, method.ResultClrType, contracts);
        WriteType(writer, "requestItem", method.RequestItemType, method.RequestItemClrType, contracts);
        writer.WriteNumber("timeoutMs", method.TimeoutMilliseconds);
        writer.WriteBoolean("idempotent", method.Idempotent);
        writer.WriteBoolean("noSideEffects", method.NoSideEffects);
        writer.WriteBoolean("deduplicate", method.Deduplicate);
        writer.WriteBoolean("broadcast", method.Broadcast);
        if (method.LoadBalance is { } strategy)
        {
            writer.WriteString("loadBalance", strategy.ToString());
        }
        else if (method.BalancerType is { } balancer)
        {
            writer.WriteString("loadBalance", balancer);
        }

        if (method.HashKeyParameters.Count > 0)
        {
            writer.WriteStartArray("hashKey");
            foreach (string name in method.HashKeyParameters)
            {
                writer.WriteStringValue(name);
            }

            writer.WriteEndArray();
        }

        if (method.Retry is { } retry)
        {
            writer.WriteStartObject("retry");
            writer.WriteNumber("maxAttempts", retry.MaxAttempts);
            writer.WriteNumber("initialBackoffMs", retry.InitialBackoffMs);
            writer.WriteNumber("maxBackoffMs", retry.MaxBackoffMs);
            writer.WriteNumber("backoffMultiplier", retry.BackoffMultiplier);
            writer.WriteNumber("perAttemptTimeoutMs", retry.PerAttemptTimeoutMs);
            writer.WriteStartArray("retryableStatusCodes");
            foreach (RpcStatusCode code in retry.RetryableStatusCodes ?? new[] { RpcStatusCode.Unavailable })
            {
                writer.WriteStringValue(code.ToString());
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        if (method.Compression is { } compression)
        {
            writer.WriteStartObject("compression");
            writer.WriteString("algorithm", compression.Algorithm switch
            {
                RpcCompression.Gzip => "gzip",
                RpcCompression.Brotli => "brotli",
                _ => "zstd",
            });
            writer.WriteNumber("minSize", compression.MinSize);
            writer.WriteString("level", compression.Level.ToString());
            writer.WriteBoolean("allowOverTls", compression.AllowOverTls);
            writer.WriteEndObject();
        }

        if (method.Hedging is { } hedging)
        {
            writer.WriteStartObject("hedging");
            writer.WriteNumber("maxAttempts", hedging.MaxAttempts);
            writer.WriteNumber("delayMs", hedging.DelayMs);
            writer.WriteBoolean("adaptiveDelay", hedging.AdaptiveDelay);
            writer.WriteEndObject();
        }

        if (method.CircuitBreaker is { } breaker)
        {
            writer.WriteStartObject("circuitBreaker");
            writer.WriteNumber("failureRatio", breaker.FailureRatio);
            writer.WriteNumber("minimumThroughput", breaker.MinimumThroughput);
            writer.WriteNumber("samplingDurationMs", breaker.SamplingDurationMs);
            writer.WriteNumber("breakDurationMs", breaker.BreakDurationMs);
            writer.WriteBoolean("perMethod", breaker.PerMethod);
            writer.WriteEndObject();
        }

        if (method.Authorization is { } authorization)
        {
            writer.WriteStartObject("authorization");
            writer.WriteBoolean("allowAnonymous", authorization.AllowAnonymous);
            writer.WriteStartArray("roles"); // each inner array is one [RpcAuthorize]: the caller needs one role of each
            foreach (string[] set in authorization.Roles)
            {
                writer.WriteStartArray();
                foreach (string role in set)
                {
                    writer.WriteStringValue(role);
                }

                writer.WriteEndArray();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        if (method.ResumeFromParameter is { } resumeFrom)
        {
            writer.WriteString("resumeFrom", resumeFrom);
        }

        writer.WriteEndObject();
    }

    private static void WriteType(Utf8JsonWriter writer, string name, string? type, Type? clrType, Func<Type, JsonSerializerOptions?> contracts)
    {
        if (type is null)
        {
            writer.WriteNull(name);
            return;
        }

        writer.WriteStartObject(name);
        writer.WriteString("type", type);
        WriteSchema(writer, clrType, contracts);
        writer.WriteEndObject();
    }

    /// <summary>The type's JSON schema from its contract, when the server has one for it (net9.0 and later).</summary>
    private static void WriteSchema(Utf8JsonWriter writer, Type? type, Func<Type, JsonSerializerOptions?> contracts)
    {
#if NET9_0_OR_GREATER
        if (type is null || contracts(type) is not { } options)
        {
            return;
        }

        System.Text.Json.Nodes.JsonNode? schema;
        try
        {
            schema = System.Text.Json.Schema.JsonSchemaExporter.GetJsonSchemaAsNode(options.GetTypeInfo(type));
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException)
        {
            schema = null; // the server has no contract for it (it would fail to read it too)
        }

        writer.WritePropertyName("schema");
        if (schema is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            schema.WriteTo(writer);
        }
#endif
    }
}

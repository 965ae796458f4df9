using System;
using System.ComponentModel;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using RpcGen.Balancing;
using RpcGen.Descriptors;
using RpcGen.Resilience;
using RpcGen.Protocol;

namespace RpcGen.Client;

/// <summary>A method as one client calls it, built once per proxy: descriptor, encoded name, deadline.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public class RpcClientMethod
{
    internal RpcClientMethod(RpcMethodDescriptor descriptor, ILoadBalancer balancer, (MethodResilience<AttemptResult>? Policies, int TimeoutMilliseconds) resilience)
    {
        Descriptor = descriptor;
        NameUtf8 = Encoding.UTF8.GetBytes(descriptor.FullName);
        TimeoutMilliseconds = resilience.TimeoutMilliseconds;
        Resilience = resilience.Policies;
        Balancer = balancer;
        HasHashKey = descriptor.HashKeyParameters.Count > 0;
    }

    internal ILoadBalancer Balancer { get; }

    /// <summary>Retry, hedging, broadcast, deduplication and circuits; null when the method has none of them.</summary>
    internal MethodResilience<AttemptResult>? Resilience { get; }

    internal bool HasHashKey { get; }

    /// <summary>The method's descriptor.</summary>
    public RpcMethodDescriptor Descriptor { get; }

    internal byte[] NameUtf8 { get; }

    internal int TimeoutMilliseconds { get; }
}

/// <summary>A method with a result of type <typeparamref name="TResult"/>.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class RpcClientMethod<TResult> : RpcClientMethod
{
    internal RpcClientMethod(RpcMethodDescriptor descriptor, ILoadBalancer balancer, (MethodResilience<AttemptResult>?, int) resilience, JsonTypeInfo<TResult> resultType)
        : base(descriptor, balancer, resilience) => ResultType = resultType;

    internal JsonTypeInfo<TResult> ResultType { get; }

    internal TResult ReadResult(ReadOnlySpan<byte> payload, string? endpoint)
    {
        try
        {
            if (payload.IsEmpty)
            {
                throw new JsonException("The response carried no result.");
            }

            return JsonSerializer.Deserialize(payload, ResultType)!;
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException)
        {
            throw new RpcException(RpcStatusCode.Internal, $"The result of '{Descriptor.FullName}' could not be read as {typeof(TResult).Name}: {ex.Message}", ex)
            {
                Endpoint = endpoint,
            };
        }
    }
}

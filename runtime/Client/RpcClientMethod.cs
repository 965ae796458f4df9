using System;
using System.ComponentModel;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using RpcGen.Balancing;
using RpcGen.Client.Internal;
using RpcGen.Descriptors;
using RpcGen.Resilience.Internal;

namespace RpcGen.Client;

/// <summary>A method as one client calls it, built once per proxy: descriptor, encoded name, deadline.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public class RpcClientMethod
{
    internal RpcClientMethod(RpcMethodDescriptor descriptor, ILoadBalancer balancer, bool userOwnsBalancer,
        (MethodResilience<AttemptResult>? Policies, int TimeoutMilliseconds) resilience, Func<ILoadBalancer>? userBalancer)
    {
        Descriptor = descriptor;
        NameUtf8 = Encoding.UTF8.GetBytes(descriptor.FullName);
        _settings = new Settings(balancer, userOwnsBalancer, resilience.Policies, resilience.TimeoutMilliseconds);
        UserBalancer = userBalancer;
        HasHashKey = descriptor.HashKeyParameters.Count > 0;
    }

    // What configuration decides (balancer, policies, deadline), swapped whole when the client's policies are reloaded:
    // a call reads its resilience once at its start, so calls in flight finish under the settings they began with.
    private volatile Settings _settings;
    private Telemetry.LatencyWindow? _live;

    internal ILoadBalancer Balancer => _settings.Balancer;

    /// <summary>True when <see cref="Balancer"/> is the instance the user's factory made (kept across reloads).</summary>
    internal bool UserOwnsBalancer => _settings.UserOwned;

    /// <summary>Retry, hedging, broadcast, deduplication and circuits; null when the method has none of them.</summary>
    internal MethodResilience<AttemptResult>? Resilience => _settings.Resilience;

    internal int TimeoutMilliseconds => _settings.TimeoutMilliseconds;

    /// <summary>The factory of the user's <c>[LoadBalance(typeof(X))]</c> balancer, kept for reloads.</summary>
    internal Func<ILoadBalancer>? UserBalancer { get; }

    internal void Reconfigure(ILoadBalancer balancer, bool userOwnsBalancer, (MethodResilience<AttemptResult>? Policies, int TimeoutMilliseconds) resilience) =>
        _settings = new Settings(balancer, userOwnsBalancer, resilience.Policies, resilience.TimeoutMilliseconds);

    internal bool HasHashKey { get; }

    /// <summary>This method's calls while the admin page watches (<see cref="Telemetry.LiveStats"/>); null before.</summary>
    internal Telemetry.LatencyWindow? Live => System.Threading.Volatile.Read(ref _live);

    /// <summary>The window of <see cref="Live"/>, made on the first call watched.</summary>
    internal Telemetry.LatencyWindow LiveWindow() => Telemetry.LatencyWindow.GetOrCreate(ref _live);

    /// <summary>The method's descriptor.</summary>
    public RpcMethodDescriptor Descriptor { get; }

    internal byte[] NameUtf8 { get; }

    private sealed record Settings(ILoadBalancer Balancer, bool UserOwned, MethodResilience<AttemptResult>? Resilience, int TimeoutMilliseconds);
}

/// <summary>A method with a result of type <typeparamref name="TResult"/>.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class RpcClientMethod<TResult> : RpcClientMethod
{
    internal RpcClientMethod(RpcMethodDescriptor descriptor, ILoadBalancer balancer, bool userOwnsBalancer,
        (MethodResilience<AttemptResult>?, int) resilience, JsonTypeInfo<TResult> resultType, Func<ILoadBalancer>? userBalancer)
        : base(descriptor, balancer, userOwnsBalancer, resilience, userBalancer) => ResultType = resultType;

    internal JsonTypeInfo<TResult> ResultType { get; }

    internal TResult ReadResult(ReadOnlySpan<byte> payload, string? endpoint)
    {
        try
        {
            if (payload.IsEmpty)
            {
                throw new JsonException("The response carried no result.");
            }

            return Serialization.RpcJson.Read(payload, ResultType);
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

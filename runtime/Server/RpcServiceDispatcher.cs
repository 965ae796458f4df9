using System;
using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading.Tasks;
using RpcGen.Descriptors;
using RpcGen.Serialization;

namespace RpcGen.Server;

/// <summary>
/// The base of generated dispatchers: one per mapped service, holding the implementation and the JSON contracts it
/// needs. <see cref="InvokeAsync"/> reads the arguments synchronously (the payload is only valid until the first await),
/// calls the implementation and hands its task to <see cref="RpcServerCall"/>, which writes the response.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class RpcServiceDispatcher
{
    /// <summary>Creates a dispatcher for a service.</summary>
    protected RpcServiceDispatcher(RpcServiceDescriptor descriptor)
    {
        Descriptor = descriptor;
        LiveWindows = new Telemetry.LatencyWindow?[descriptor.Methods.Count];
    }

    /// <summary>Each method's window while the admin page watches, by method index (a dispatcher serves one server).</summary>
    internal Telemetry.LatencyWindow?[] LiveWindows { get; }

    /// <summary>The service this dispatcher serves.</summary>
    public RpcServiceDescriptor Descriptor { get; }

    /// <summary>Invokes method number <paramref name="methodIndex"/> with the arguments in <paramref name="payload"/>.</summary>
    public abstract ValueTask InvokeAsync(int methodIndex, RpcServerCall call, ReadOnlySpan<byte> payload);
}

/// <summary>What a generated dispatcher is built with.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class RpcDispatcherContext
{
    private readonly bool _explicitOptions;

    internal RpcDispatcherContext(JsonSerializerOptions? explicitOptions)
    {
        _explicitOptions = explicitOptions is not null;
        SerializerOptions = explicitOptions ?? RpcDefaults.CreateSerializerOptions();
    }

    /// <summary>The serializer options of the server (unless a service names its own JSON context).</summary>
    public JsonSerializerOptions SerializerOptions { get; }

    /// <summary>
    /// Resolves the JSON contract of <typeparamref name="T"/> for <paramref name="service"/>: from the server's
    /// <c>SerializerOptions</c> when they were given, else from the service's named JSON context, else the defaults.
    /// </summary>
    public JsonTypeInfo<T> GetTypeInfo<T>(RpcServiceDescriptor service) =>
        RpcDefaults.GetTypeInfo<T>(service.Name, service.InterfaceType, service.JsonContext, SerializerOptions, _explicitOptions);

    /// <summary>The options <paramref name="service"/>'s contracts come from, by the rule of <see cref="GetTypeInfo{T}"/>.</summary>
    internal JsonSerializerOptions OptionsFor(RpcServiceDescriptor service) =>
        _explicitOptions ? SerializerOptions : service.JsonContext?.Options ?? SerializerOptions;
}

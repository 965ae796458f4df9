using System;

namespace RpcGen;

/// <summary>
/// Marks an interface as an RPC service. The RpcGen source generator emits a client proxy, a server dispatcher and a
/// descriptor for it at compile time.
/// </summary>
[AttributeUsage(AttributeTargets.Interface, Inherited = false, AllowMultiple = false)]
public sealed class RpcServiceAttribute : Attribute
{
    /// <summary>Uses the interface name without its leading <c>I</c> as the wire name.</summary>
    public RpcServiceAttribute() { }

    /// <summary>Uses <paramref name="name"/> as the service's wire name.</summary>
    public RpcServiceAttribute(string name) => Name = name;

    /// <summary>The service's wire name, or <see langword="null"/> for the default.</summary>
    public string? Name { get; }

    /// <summary>
    /// A source-generated <c>JsonSerializerContext</c> that knows every parameter and result type of the service. Its
    /// options serialize the service's arguments and results on both sides unless the client or server was given
    /// <c>SerializerOptions</c> explicitly, so the service works under trimming and Native AOT with no configuration.
    /// The analyzers report every type the context does not cover (RPCGEN016).
    /// </summary>
    public Type? JsonContext { get; set; }
}

/// <summary>Overrides the wire name of a method. The default is the method name without an <c>Async</c> suffix.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class RpcMethodAttribute : Attribute
{
    /// <summary>Uses <paramref name="name"/> as the method's wire name.</summary>
    public RpcMethodAttribute(string name) => Name = name;

    /// <summary>The method's wire name.</summary>
    public string Name { get; }
}

/// <summary>
/// The overall deadline of a call in milliseconds. On the interface it applies to every method; on a method it wins over
/// the interface's value. The deadline travels to the server, whose cancellation token fires when it passes.
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class TimeoutAttribute : Attribute
{
    /// <summary>A deadline of <paramref name="milliseconds"/> for each call.</summary>
    public TimeoutAttribute(int milliseconds) => Milliseconds = milliseconds;

    /// <summary>The deadline in milliseconds.</summary>
    public int Milliseconds { get; }
}

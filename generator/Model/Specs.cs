using RpcGen.Generator.Helpers;

namespace RpcGen.Generator.Model;

/// <summary>
/// Everything the emitter needs about one <c>[RpcService]</c> interface.
/// </summary>
/// <remarks>
/// Only strings, numbers, enums and equatable arrays: no symbols, syntax nodes, locations or compilations, so that
/// equal inputs give equal specs across compilations and the incremental pipeline skips emission for them.
/// </remarks>
internal sealed record ServiceSpec(
    string? Namespace,
    string InterfaceFullName,
    string InterfaceDisplayName,
    string TypeNamePrefix,
    string HintNamePrefix,
    string WireName,
    string? JsonContext,
    ImmutableEquatableArray<MethodSpec> Methods,
    ImmutableEquatableArray<UnsupportedMemberSpec> Unsupported);

/// <summary>A method that can be called remotely.</summary>
/// <remarks>Types are <c>global::</c>-qualified strings (<see cref="TypeRef"/>) so the spec stays equatable.</remarks>
internal sealed record MethodSpec(
    int Index,
    string Name,
    string WireName,
    string DeclaringInterface,
    bool IsInherited,
    ReturnKind ReturnKind,
    TypeRef? ResultType,
    ImmutableEquatableArray<ParameterSpec> Parameters,
    string? CancellationTokenName,
    int TimeoutMilliseconds,
    string? LoadBalance,
    string? BalancerType,
    ImmutableEquatableArray<int> HashKeyParameters,
    PolicySpec Policy);

/// <summary>A method's resilience attributes, effective (method over interface).</summary>
/// <remarks>
/// The policies are pre-rendered C# object creations (<c>new global::RpcGen.Resilience.RpcRetryPolicy { MaxAttempts = 3 }</c>) of
/// the attribute's named arguments, so the spec stays a plain string record and the runtime keeps the defaults.
/// </remarks>
internal sealed record PolicySpec(bool Idempotent, bool Deduplicate, bool Broadcast, string? Retry, string? Hedging, string? CircuitBreaker)
{
    public static readonly PolicySpec None = new(false, false, false, null, null, null);
}

/// <summary>A parameter that travels in the request.</summary>
/// <remarks><see cref="DefaultValue"/> is a C# expression already, or null when the parameter is required.</remarks>
internal sealed record ParameterSpec(string Name, TypeRef Type, string? DefaultValue);

/// <summary>A type as the emitter writes it.</summary>
/// <remarks>
/// <see cref="FullyQualified"/> carries nullable annotations and <c>global::</c>; <see cref="Display"/> is the short form
/// shown in descriptors. Strings, so that equality is by value.
/// </remarks>
internal sealed record TypeRef(string FullyQualified, string Display);

/// <summary>
/// A member the proxy must implement but cannot send: it gets an explicit implementation that throws
/// <c>NotSupportedException</c> naming the reason (the analyzers report the same at design time).
/// </summary>
/// <remarks>The signature is pre-rendered C#, so the spec stays a plain string record.</remarks>
internal sealed record UnsupportedMemberSpec(string Signature, MemberKind Kind, string Accessors, string Reason, string Name);

/// <summary>The shape of a supported return type.</summary>
internal enum ReturnKind
{
    Task,
    TaskOfT,
    ValueTask,
    ValueTaskOfT,
}

/// <summary>What kind of member an unsupported member is, which decides the body the emitter writes.</summary>
internal enum MemberKind
{
    Method,
    Property,
    Event,

    /// <summary>IDisposable.Dispose / IAsyncDisposable.DisposeAsync: implemented as a local no-op, never sent.</summary>
    LocalDispose,
}

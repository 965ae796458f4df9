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
    ImmutableEquatableArray<UnsupportedMemberSpec> Unsupported,
    string OpenApi);

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
    LoadBalanceSpec? LoadBalance,
    ImmutableEquatableArray<int> HashKeyParameters,
    PolicySpec Policy,
    AuthorizationSpec? Authorization = null,
    StreamSpec? Stream = null,
    PolicyAttributeSpec? Compression = null);

/// <summary>
/// How a method streams: which way, the caller's stream parameter (its name, its position among the parameters that
/// are not the token, its item type) when it has one, its <c>[Streaming]</c> settings (method over interface), and for a
/// valid <c>[Resumable]</c> stream its <c>[ResumeFrom]</c> parameter (index among the parameters that travel) and the
/// items' position property.
/// </summary>
internal sealed record StreamSpec(
    StreamKind Kind, string? ParameterName, int ParameterPosition, TypeRef? ItemType, PolicyAttributeSpec? Settings, int ResumeFromIndex = -1, string? PositionProperty = null);

/// <summary>Which way a method streams; the values are <c>RpcStreamingKind</c>'s.</summary>
internal enum StreamKind
{
    Server = 1,
    Client = 2,
    Duplex = 3,
}

/// <summary>
/// A method's effective <c>[RpcAuthorize]</c>/<c>[RpcAllowAnonymous]</c>: anonymous allowed, or one role list per
/// <c>[RpcAuthorize]</c> (interface's first), each joined with commas (empty: any authenticated caller).
/// </summary>
internal sealed record AuthorizationSpec(bool AllowAnonymous, ImmutableEquatableArray<string> RoleSets);

/// <summary>
/// <c>[LoadBalance]</c>: a built-in strategy (its enum value and member name) or a user's balancer type (global:: name).
/// </summary>
internal sealed record LoadBalanceSpec(int Strategy, string? StrategyName, string? BalancerType);

/// <summary>A method's resilience attributes, effective (method over interface).</summary>
/// <remarks>
/// Each policy is the attribute's named arguments as data; the emitter writes the object creation, and arguments not
/// written keep the runtime's defaults.
/// </remarks>
internal sealed record PolicySpec(
    bool Idempotent, bool Deduplicate, bool Broadcast, PolicyAttributeSpec? Retry, PolicyAttributeSpec? Hedging, PolicyAttributeSpec? CircuitBreaker,
    bool NoSideEffects = false)
{
    public static readonly PolicySpec None = new(false, false, false, null, null, null);
}

/// <summary>One policy attribute: its named arguments in source order; <see cref="PerMethod"/> for a breaker on the method itself.</summary>
internal sealed record PolicyAttributeSpec(ImmutableEquatableArray<NamedValueSpec> Arguments, bool PerMethod);

/// <summary>A named attribute argument.</summary>
internal sealed record NamedValueSpec(string Name, ConstantSpec Value);

/// <summary>
/// A constant attribute value: its kind, its invariant text (numbers "R"-formatted, enums as their underlying value),
/// its type for enums and arrays (global:: name; arrays: the element type), and the elements of an array.
/// </summary>
internal sealed record ConstantSpec(ConstantKind Kind, string Text, string? Type, ImmutableEquatableArray<ConstantSpec>? Elements);

/// <summary>What a <see cref="ConstantSpec"/> holds.</summary>
internal enum ConstantKind
{
    Null,
    Bool,
    Int,
    Double,
    Enum,
    Array,
}

/// <summary>A parameter that travels in the request.</summary>
/// <remarks><see cref="DefaultValue"/> is a C# expression already, or null when the parameter is required.</remarks>
internal sealed record ParameterSpec(string Name, TypeRef Type, string? DefaultValue);

/// <summary>A type as the emitter writes it.</summary>
/// <remarks>
/// <see cref="FullyQualified"/> carries nullable annotations and <c>global::</c>; <see cref="Display"/> is the short form
/// shown in descriptors; <see cref="TypeOf"/> is what <c>typeof()</c> takes (no nullable reference annotations).
/// Strings, so that equality is by value.
/// </remarks>
internal sealed record TypeRef(string FullyQualified, string Display, string TypeOf);

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
    AsyncEnumerable,
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

using System;
using System.Collections.Generic;
using System.ComponentModel;
using RpcGen.Resilience;

namespace RpcGen.Descriptors;

/// <summary>
/// What the generator learned about an <c>[RpcService]</c> interface: wire names, methods, types and each method's
/// effective policy. Emitted as data at compile time; <see cref="RpcServiceRegistry"/> exposes it at run time.
/// </summary>
public sealed class RpcServiceDescriptor
{
    /// <summary>Creates a descriptor. Called by generated code.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public RpcServiceDescriptor(
        string name, Type interfaceType, RpcMethodDescriptor[] methods, System.Text.Json.Serialization.JsonSerializerContext? jsonContext = null,
        string? openApiDocument = null)
    {
        Name = name;
        OpenApiDocument = openApiDocument;
        JsonContext = jsonContext;
        InterfaceType = interfaceType;
        Methods = methods;
        for (int i = 0; i < methods.Length; i++)
        {
            methods[i].Service = this;
        }
    }

    /// <summary>The service's wire name.</summary>
    public string Name { get; }

    /// <summary>The annotated interface.</summary>
    public Type InterfaceType { get; }

    /// <summary>The JSON context named by <c>[RpcService(JsonContext = ...)]</c>, or null.</summary>
    public System.Text.Json.Serialization.JsonSerializerContext? JsonContext { get; }

    /// <summary>
    /// The service's OpenAPI 3.1 document (JSON), written by the generator from the interface: what the HTTP gateway
    /// serves at <c>/openapi/{service}.json</c>; null for a descriptor made by hand.
    /// </summary>
    public string? OpenApiDocument { get; }

    /// <summary>The methods, in the order the generator numbered them.</summary>
    public IReadOnlyList<RpcMethodDescriptor> Methods { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({InterfaceType.FullName}, {Methods.Count} methods)";
}

/// <summary>One remotely callable method and its effective policy.</summary>
public sealed class RpcMethodDescriptor
{
    /// <summary>Creates a descriptor. Called by generated code.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public RpcMethodDescriptor(
        int index,
        string name,
        string clrName,
        RpcParameterDescriptor[] parameters,
        string? resultType,
        RpcReturnKind returnKind,
        bool hasCancellationToken,
        int timeoutMilliseconds,
        LoadBalanceStrategy? loadBalance = null,
        string? balancerType = null,
        string[]? hashKeyParameters = null,
        bool idempotent = false,
        bool deduplicate = false,
        bool broadcast = false,
        RpcRetryPolicy? retry = null,
        RpcHedgingPolicy? hedging = null,
        RpcCircuitBreakerPolicy? circuitBreaker = null,
        RpcAuthorization? authorization = null,
        RpcStreamingKind streaming = RpcStreamingKind.None,
        string? requestItemType = null,
        RpcStreamingPolicy? streamingPolicy = null,
        string? resumeFromParameter = null,
        bool noSideEffects = false,
        Type? resultClrType = null,
        Type? requestItemClrType = null,
        RpcCompressionPolicy? compression = null)
    {
        Compression = compression is { Algorithm: not RpcCompression.None } ? compression : null;
        ResultClrType = resultClrType;
        RequestItemClrType = requestItemClrType;
        NoSideEffects = noSideEffects;
        ResumeFromParameter = resumeFromParameter;
        Streaming = streaming;
        RequestItemType = requestItemType;
        StreamingPolicy = streaming == RpcStreamingKind.None ? null : streamingPolicy ?? RpcStreamingPolicy.Default;
        Authorization = authorization;
        Idempotent = idempotent;
        Deduplicate = deduplicate;
        Broadcast = broadcast;
        Retry = retry;
        Hedging = hedging;
        CircuitBreaker = circuitBreaker;
        LoadBalance = loadBalance;
        BalancerType = balancerType;
        HashKeyParameters = hashKeyParameters ?? Array.Empty<string>();
        Index = index;
        Name = name;
        ClrName = clrName;
        Parameters = parameters;
        ResultType = resultType;
        ReturnKind = returnKind;
        HasCancellationToken = hasCancellationToken;
        TimeoutMilliseconds = timeoutMilliseconds;
    }

    /// <summary>The service this method belongs to.</summary>
    public RpcServiceDescriptor Service { get; internal set; } = null!;

    /// <summary>Position in <see cref="RpcServiceDescriptor.Methods"/>.</summary>
    public int Index { get; }

    /// <summary>The method's wire name.</summary>
    public string Name { get; }

    /// <summary><c>service/method</c>, as sent in request frames.</summary>
    public string FullName => _fullName ??= Service.Name + "/" + Name;

    private string? _fullName;

    /// <summary>The C# method name.</summary>
    public string ClrName { get; }

    /// <summary>The parameters that travel, in wire order (the cancellation token is not one of them).</summary>
    public IReadOnlyList<RpcParameterDescriptor> Parameters { get; }

    /// <summary>
    /// The C# result type, or <see langword="null"/> for <c>Task</c>/<c>ValueTask</c>; for a method that returns
    /// <c>IAsyncEnumerable&lt;T&gt;</c>, the item type <c>T</c>.
    /// </summary>
    public string? ResultType { get; }

    /// <summary>The result's (or a stream's items') type, for tools that describe it (a JSON schema); null without a result.</summary>
    public Type? ResultClrType { get; }

    /// <summary>The item type of the caller's stream, for tools that describe it; null for other methods.</summary>
    public Type? RequestItemClrType { get; }

    /// <summary>Which way the method streams: none (one request, one response), server, client or both (duplex).</summary>
    public RpcStreamingKind Streaming { get; }

    /// <summary>The item type of the caller's stream (the <c>IAsyncEnumerable&lt;T&gt;</c> parameter), or null.</summary>
    public string? RequestItemType { get; }

    /// <summary>The stream settings of a streaming method (<c>[Streaming]</c>, else the defaults); null for other methods.</summary>
    public RpcStreamingPolicy? StreamingPolicy { get; }

    /// <summary>The <c>[ResumeFrom]</c> parameter of a <c>[Resumable]</c> stream, or null for a stream that cannot be resumed.</summary>
    public string? ResumeFromParameter { get; }

    /// <summary>The C# return type's shape.</summary>
    public RpcReturnKind ReturnKind { get; }

    /// <summary>True when the method takes a trailing <see cref="System.Threading.CancellationToken"/>.</summary>
    public bool HasCancellationToken { get; }

    /// <summary>The effective deadline in milliseconds (method attribute, else interface attribute); 0 for none.</summary>
    public int TimeoutMilliseconds { get; }

    /// <summary>The built-in strategy from <c>[LoadBalance]</c> (method, else interface), or null for the default.</summary>
    public LoadBalanceStrategy? LoadBalance { get; }

    /// <summary>The user's balancer type name, or null.</summary>
    public string? BalancerType { get; }

    /// <summary>The <c>[HashKey]</c> parameters, in order.</summary>
    public IReadOnlyList<string> HashKeyParameters { get; }

    /// <summary>True when <c>[Idempotent]</c> is on the method or its interface: it may be retried or hedged after it was sent.</summary>
    public bool Idempotent { get; }

    /// <summary>
    /// True when <c>[NoSideEffects]</c> is on the method or its interface: calling it changes nothing (it is also
    /// <see cref="Idempotent"/>), so the HTTP gateway serves it on <c>GET</c> as well.
    /// </summary>
    public bool NoSideEffects { get; }

    /// <summary>The method's <c>[Compress]</c>, its own or its interface's; null when its bodies are never compressed.</summary>
    public RpcCompressionPolicy? Compression { get; }

    /// <summary>True when <c>[Deduplicate]</c> is on the method or its interface: its retries carry one call id the server deduplicates.</summary>
    public bool Deduplicate { get; }

    /// <summary>True when <c>[Broadcast]</c> is on the method: every endpoint is called.</summary>
    public bool Broadcast { get; }

    /// <summary>The retry policy from <c>[Retry]</c> (method, else interface), or null.</summary>
    public RpcRetryPolicy? Retry { get; }

    /// <summary>The hedging policy from <c>[Hedging]</c> (method, else interface), or null.</summary>
    public RpcHedgingPolicy? Hedging { get; }

    /// <summary>The circuit breaker policy from <c>[CircuitBreaker]</c> (method, else interface), or null.</summary>
    public RpcCircuitBreakerPolicy? CircuitBreaker { get; }

    /// <summary>Who may call: <c>[RpcAuthorize]</c> and <c>[RpcAllowAnonymous]</c> (method and interface), or null when neither is there.</summary>
    public RpcAuthorization? Authorization { get; }

    /// <inheritdoc />
    public override string ToString() => FullName;
}

/// <summary>A parameter that travels in a request.</summary>
public sealed class RpcParameterDescriptor
{
    /// <summary>Creates a descriptor. Called by generated code.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public RpcParameterDescriptor(string name, string type, bool hasDefaultValue, Type? clrType = null)
    {
        ClrType = clrType;
        Name = name;
        Type = type;
        HasDefaultValue = hasDefaultValue;
    }

    /// <summary>The parameter's name.</summary>
    public string Name { get; }

    /// <summary>The C# type, as written by the generator.</summary>
    public string Type { get; }

    /// <summary>The parameter's type, for tools that describe it (a JSON schema); null in a descriptor made by hand.</summary>
    public Type? ClrType { get; }

    /// <summary>True when a missing argument takes the parameter's default value on the server.</summary>
    public bool HasDefaultValue { get; }
}

/// <summary>The shape of a method's return type.</summary>
public enum RpcReturnKind
{
    /// <summary><see cref="System.Threading.Tasks.Task"/>.</summary>
    Task,
    /// <summary><see cref="System.Threading.Tasks.Task{TResult}"/>.</summary>
    TaskOfT,
    /// <summary><see cref="System.Threading.Tasks.ValueTask"/>.</summary>
    ValueTask,
    /// <summary><see cref="System.Threading.Tasks.ValueTask{TResult}"/>.</summary>
    ValueTaskOfT,
    /// <summary><see cref="System.Collections.Generic.IAsyncEnumerable{T}"/>: a server or duplex stream.</summary>
    AsyncEnumerable,
}

/// <summary>Which way a method streams items (docs/streaming.md).</summary>
public enum RpcStreamingKind
{
    /// <summary>One request, one response.</summary>
    None,
    /// <summary>The method returns <c>IAsyncEnumerable&lt;T&gt;</c>: the server streams items to the caller.</summary>
    Server,
    /// <summary>The method takes an <c>IAsyncEnumerable&lt;T&gt;</c> parameter and returns a task: the caller streams items to the server.</summary>
    Client,
    /// <summary>Both: the caller streams items to the server while the server streams items back.</summary>
    Duplex,
}

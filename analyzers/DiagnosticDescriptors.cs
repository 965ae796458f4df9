using Microsoft.CodeAnalysis;

namespace RpcGen.Analyzers;

/// <summary>
/// Every rule the analyzers report; each id has a page in docs/diagnostics/ (shipped in the RpcGen package under
/// docs/diagnostics/) and a row in AnalyzerReleases. No help link: RpcGen has no public web address to point at, and a
/// link to a page that does not exist is worse than none; the description names the page instead.
/// </summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "RpcGen";

    /// <summary>The description every rule carries: where its page is.</summary>
    public static string Description(string id) => $"The causes, examples and fixes: docs/diagnostics/{id}.md in the RpcGen package (and repository).";

    private static DiagnosticDescriptor Rule(string id, string title, string message, DiagnosticSeverity severity, params string[] tags) =>
        new(id, title, message, Category, severity, isEnabledByDefault: true, description: Description(id), customTags: tags);

    public static readonly DiagnosticDescriptor ReturnType = Rule(
        "RPCGEN001", "RPC methods return a task",
        "'{0}' returns '{1}': an RPC method must return Task, Task<T>, ValueTask, ValueTask<T> or IAsyncEnumerable<T> (a stream); {2}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ByRefParameter = Rule(
        "RPCGEN002", "RPC parameters are passed by value",
        "Parameter '{0}' of '{1}' {2}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor GenericMethod = Rule(
        "RPCGEN003", "RPC methods are not generic",
        "'{0}' is generic, and a remote call needs concrete types; write one method per type",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor NotGenerated = Rule(
        "RPCGEN004", "No RPC code can be generated for this interface",
        "No RPC code is generated for '{0}' because {1}; calling CreateProxy or Map with it would fail at run time",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor CancellationToken = Rule(
        "RPCGEN005", "One CancellationToken, last",
        "'{0}' {1}; take at most one CancellationToken, as the last parameter (CancellationToken cancellationToken = default)",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor DuplicateMethod = Rule(
        "RPCGEN006", "Wire names of methods are unique",
        "'{0}' and '{1}' both have the wire name '{2}' in service '{3}'; give one of them [RpcMethod(\"another-name\")]",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor DuplicateService = Rule(
        "RPCGEN007", "Wire names of services are unique",
        "'{0}' and '{1}' both have the service wire name '{2}'; give one of them [RpcService(\"another-name\")]",
        DiagnosticSeverity.Error, WellKnownDiagnosticTags.CompilationEnd);

    public static readonly DiagnosticDescriptor CannotSerialize = Rule(
        "RPCGEN008", "RPC types can be serialized",
        "{0} of '{1}' has type '{2}', which cannot be serialized to JSON ({3}); send the data it holds instead",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor NoJsonContract = Rule(
        "RPCGEN009", "RPC types have a JSON contract",
        "{0} of '{1}' has type '{2}', which {3}; use a concrete record or class",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor NotAMethod = Rule(
        "RPCGEN010", "RPC interfaces declare only methods",
        "{0} '{1}' cannot be called remotely; replace it with a method that returns a Task (the proxy throws NotSupportedException for it)",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor InvalidAttributeValue = Rule(
        "RPCGEN011", "Attribute values are valid",
        "{0}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor HashKeyUnused = Rule(
        "RPCGEN012", "[HashKey] needs consistent hashing",
        "'{0}' marks [HashKey] parameters but balances with {1}, which ignores them; use [LoadBalance(LoadBalanceStrategy.ConsistentHash)] or remove [HashKey]",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor HashKeyMissing = Rule(
        "RPCGEN013", "Consistent hashing needs a [HashKey]",
        "'{0}' balances with ConsistentHash but has no [HashKey] parameter, so every call goes to the same endpoint; mark the parameter that identifies the data with [HashKey]",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor NoCancellationToken = Rule(
        "RPCGEN015", "RPC methods can be cancelled",
        "'{0}' takes no CancellationToken; add 'CancellationToken cancellationToken = default' so callers can cancel it and the server's handler sees the deadline",
        DiagnosticSeverity.Hidden);

    public static readonly DiagnosticDescriptor NotInJsonContext = Rule(
        "RPCGEN016", "The named JSON context covers every type",
        "{0} of '{1}' has type '{2}', which the JSON context '{3}' does not cover, so the call would fail when the proxy or dispatcher is created; add [JsonSerializable(typeof({2}))] to '{3}'",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor RetryNotIdempotent = Rule(
        "RPCGEN017", "Retried and hedged methods are idempotent",
        "'{0}' has {1} but {2}",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor TimeoutShorterThanBackoff = Rule(
        "RPCGEN018", "The timeout leaves room for the retries",
        "'{0}' has a deadline of {1} ms, but its [Retry] waits at least {2} ms between its {3} attempts, so the later attempts can never run; raise [Timeout], or lower MaxAttempts or the backoff",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor DataDropped = Rule(
        "RPCGEN019", "RPC types keep their data",
        "{0} of '{1}' has type '{2}', whose {3} would not reach the other side ({4}); {5}",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor Disposable = Rule(
        "RPCGEN020", "RPC interfaces are not disposable",
        "'{0}' inherits {1}, but disposing a proxy is local: the generated proxy's {2} does nothing and is never sent to the server (whose implementation the server owns); remove {1} from the interface's base list and dispose the RpcClient instead (put {1} on the implementation class if it holds resources)",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor AuthorizationContradiction = Rule(
        "RPCGEN021", "Authorization attributes agree",
        "'{0}' has both [RpcAuthorize] and [RpcAllowAnonymous]; [RpcAllowAnonymous] wins, so the [RpcAuthorize] on it does nothing: remove the one you did not mean",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor EmptyRoles = Rule(
        "RPCGEN022", "Authorization roles are named",
        "[RpcAuthorize(Roles = \"{1}\")] on '{0}' names no role, so it only requires an authenticated caller; name the roles (comma-separated), or remove Roles",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor StreamPolicy = Rule(
        "RPCGEN023", "Streams are not hedged, broadcast or deduplicated",
        "'{0}' streams, but has {1}, which {2}; remove it (a stream may still have [Retry]: it retries until its first item crosses)",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor TwoStreams = Rule(
        "RPCGEN024", "One stream from the caller",
        "Parameter '{0}' of '{1}' is a second IAsyncEnumerable<T>: a call carries at most one stream from its caller; " +
        "send one stream of a type that holds both (a record with a kind, or a common base type)",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor Resumable = Rule(
        "RPCGEN025", "Resumable streams have a position",
        "'{0}' cannot be resumed: {1}; a [Resumable] method returns IAsyncEnumerable<T> of items with a long position property " +
        "and takes a [ResumeFrom] long? parameter",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor CompressedSecrets = Rule(
        "RPCGEN026", "Authorized methods are not compressed over TLS",
        "'{0}' requires an authenticated caller ([RpcAuthorize]) and compresses over TLS ([Compress(AllowOverTls = true)]): " +
        "when one compressed frame mixes a secret with data an attacker chooses, its length leaks the secret (CRIME, BREACH); " +
        "remove AllowOverTls, or keep it only if no payload of this method holds a secret beside caller-chosen data",
        DiagnosticSeverity.Warning);

    /// <summary>Diagnostic property naming which RPCGEN005 case applies ("position" or "duplicate").</summary>
    public const string TokenProblem = "TokenProblem";

    public static readonly DiagnosticDescriptor BadBalancer = Rule(
        "RPCGEN014", "Custom balancers can be created",
        "'{0}' cannot be used as a load balancer: it must be a non-generic, non-abstract class implementing RpcGen.Balancing.ILoadBalancer with a public parameterless constructor (the generated code creates it with new)",
        DiagnosticSeverity.Error);
}

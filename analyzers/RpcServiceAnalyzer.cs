using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using RpcGen.Shared;
using D = RpcGen.Analyzers.DiagnosticDescriptors;

namespace RpcGen.Analyzers;

/// <summary>
/// Checks <c>[RpcService]</c> interfaces as they are typed: shapes the generator cannot send, wire-name clashes,
/// invalid attribute values, and load-balancing attributes that cannot work. One symbol action per interface (no
/// compilation walks); duplicate service names are compared once at the end of the compilation.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed partial class RpcServiceAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        D.ReturnType, D.ByRefParameter, D.GenericMethod, D.NotGenerated, D.CancellationToken, D.DuplicateMethod,
        D.DuplicateService, D.CannotSerialize, D.NoJsonContract, D.NotAMethod, D.InvalidAttributeValue, D.RetryNotIdempotent, D.TimeoutShorterThanBackoff,
        D.HashKeyUnused, D.HashKeyMissing, D.BadBalancer, D.NoCancellationToken, D.NotInJsonContext, D.DataDropped, D.Disposable);

    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(static start =>
        {
            if (start.Compilation.GetTypeByMetadataName(RpcShapes.RpcServiceAttribute) is null)
            {
                return; // RpcGen is not referenced
            }

            var symbols = new KnownTypes(start.Compilation);
            var services = new ConcurrentBag<(string Name, INamedTypeSymbol Type, Location Location)>();
            start.RegisterSymbolAction(c => AnalyzeInterface(c, symbols, services), SymbolKind.NamedType);
            start.RegisterCompilationEndAction(end => ReportDuplicateServices(end, services));
        });
    }

    /// <summary>Framework types resolved once per compilation.</summary>
    private sealed class KnownTypes
    {
        public KnownTypes(Compilation compilation)
        {
            Stream = compilation.GetTypeByMetadataName("System.IO.Stream");
            Task = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task");
            ValueTask = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask");
            ValueTaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask`1");
            Type = compilation.GetTypeByMetadataName("System.Type");
        }

        public INamedTypeSymbol? Stream { get; }

        public INamedTypeSymbol? Task { get; }

        public INamedTypeSymbol? ValueTask { get; }

        public INamedTypeSymbol? ValueTaskOfT { get; }

        public INamedTypeSymbol? Type { get; }
    }

    private static void AnalyzeInterface(SymbolAnalysisContext context, KnownTypes known, ConcurrentBag<(string, INamedTypeSymbol, Location)> services)
    {
        if (context.Symbol is not INamedTypeSymbol { TypeKind: TypeKind.Interface } type ||
            RpcShapes.GetAttribute(type, RpcShapes.RpcServiceAttribute) is not { } serviceAttribute)
        {
            return;
        }

        Location where = type.Locations.FirstOrDefault(l => l.IsInSource) ?? Location.None;
        string? skipped = WhyNotGenerated(type);
        if (skipped is not null)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.NotGenerated, where, type.ToDisplayString(), skipped));
            return;
        }

        string serviceName = RpcShapes.ServiceWireName(type, serviceAttribute);
        CheckWireNameArgument(context, serviceAttribute, "[RpcService]");
        CheckTimeout(context, type);
        CheckPolicyValues(context, type);
        (int? interfaceStrategy, INamedTypeSymbol? interfaceBalancer) = LoadBalanceOf(context, type);
        JsonContextCoverage? coverage = JsonContextOf(context, serviceAttribute, where);
        services.Add((serviceName, type, where));

        var wireNames = new Dictionary<string, IMethodSymbol>(System.StringComparer.Ordinal);
        foreach (INamedTypeSymbol declaring in new[] { type }.Concat(type.AllInterfaces))
        {
            if (RpcShapes.IsDisposableInterface(declaring))
            {
                // Its Dispose/DisposeAsync is implemented locally by the proxy, never called remotely.
                context.ReportDiagnostic(Diagnostic.Create(D.Disposable, where, type.ToDisplayString(), declaring.Name,
                    declaring.Name == "IDisposable" ? "Dispose()" : "DisposeAsync()"));
                continue;
            }

            foreach (ISymbol member in declaring.GetMembers())
            {
                if (member.IsStatic || !member.IsAbstract)
                {
                    continue;
                }

                Location location = member.Locations.FirstOrDefault(l => l.IsInSource) ?? where;
                switch (member)
                {
                    case IPropertySymbol property:
                        context.ReportDiagnostic(Diagnostic.Create(D.NotAMethod, location, property.IsIndexer ? "Indexer" : "Property", property.ToDisplayString()));
                        break;
                    case IEventSymbol @event:
                        context.ReportDiagnostic(Diagnostic.Create(D.NotAMethod, location, "Event", @event.ToDisplayString()));
                        break;
                    case IMethodSymbol { MethodKind: MethodKind.Ordinary } method:
                        AnalyzeMethod(context, known, method, location, serviceName, wireNames, interfaceStrategy, interfaceBalancer, coverage, type);
                        break;
                }
            }
        }
    }

    private static string? WhyNotGenerated(INamedTypeSymbol type)
    {
        if (type.IsGenericType)
        {
            return "it is generic (a service has one wire contract: declare one interface per type argument)";
        }

        for (INamedTypeSymbol? t = type; t is not null; t = t.ContainingType)
        {
            if (t.DeclaredAccessibility is Accessibility.Private or Accessibility.Protected or Accessibility.ProtectedAndInternal)
            {
                return $"'{t.Name}' is {t.DeclaredAccessibility.ToString().ToLowerInvariant()}, so generated code cannot see it (make it internal or public)";
            }

            if (!SymbolEqualityComparer.Default.Equals(t, type) && t.IsGenericType)
            {
                return $"it is nested in the generic type '{t.ToDisplayString()}' (move it out)";
            }
        }

        foreach (INamedTypeSymbol candidate in new[] { type }.Concat(type.AllInterfaces))
        {
            foreach (ISymbol member in candidate.GetMembers())
            {
                if (member.IsStatic && member.IsAbstract)
                {
                    return $"it declares the static abstract member '{member.Name}', so it cannot be a type argument of CreateProxy or Map";
                }
            }
        }

        return null;
    }

    private static void AnalyzeMethod(
        SymbolAnalysisContext context, KnownTypes known, IMethodSymbol method, Location location, string serviceName,
        Dictionary<string, IMethodSymbol> wireNames, int? interfaceStrategy, INamedTypeSymbol? interfaceBalancer, JsonContextCoverage? coverage,
        INamedTypeSymbol service)
    {
        string name = method.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat);
        if (method.IsGenericMethod)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.GenericMethod, location, name));
        }

        if (RpcShapes.TaskKind(method.ReturnType, out ITypeSymbol? result) < 0)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.ReturnType, ReturnTypeLocation(method) ?? location, name, method.ReturnType.ToDisplayString(),
                ReturnTypeFix(method.ReturnType)));
        }
        else if (result is not null)
        {
            CheckType(context, known, result, "The result", name, ReturnTypeLocation(method) ?? location);
            coverage?.Check(context, result, "The result", name, ReturnTypeLocation(method) ?? location);
            CheckDataKept(context, result, "The result", name, ReturnTypeLocation(method) ?? location, coverage);
        }

        int tokenCount = method.Parameters.Count(p => RpcShapes.IsCancellationToken(p.Type));
        int tokens = 0;
        bool hasHashKey = false;
        for (int i = 0; i < method.Parameters.Length; i++)
        {
            IParameterSymbol parameter = method.Parameters[i];
            Location parameterLocation = parameter.Locations.FirstOrDefault(l => l.IsInSource) ?? location;
            hasHashKey |= RpcShapes.HasAttribute(parameter, RpcShapes.HashKeyAttribute);
            if (parameter.RefKind != RefKind.None || parameter.IsParams)
            {
                string problem = parameter.IsParams
                    ? "is declared 'params', which RPC methods do not support (a proxy must match the interface exactly, and the array travels as one value); remove 'params' and let callers pass an array"
                    : $"is {(parameter.RefKind is RefKind.In or RefKind.Out ? "an" : "a")} '{parameter.RefKind switch { RefKind.Out => "out", RefKind.In => "in", _ => "ref" }}' parameter, which cannot cross the network (the callee's writes cannot come back through it); pass it by value and return results in the task";
                context.ReportDiagnostic(Diagnostic.Create(D.ByRefParameter, parameterLocation, parameter.Name, name, problem));
                continue;
            }

            if (RpcShapes.IsCancellationToken(parameter.Type))
            {
                tokens++;
                if (tokens > 1)
                {
                    context.ReportDiagnostic(Diagnostic.Create(D.CancellationToken, parameterLocation,
                        ImmutableDictionary<string, string?>.Empty.Add(D.TokenProblem, "duplicate"), name, "takes more than one CancellationToken"));
                }
                else if (tokenCount == 1 && i != method.Parameters.Length - 1)
                {
                    context.ReportDiagnostic(Diagnostic.Create(D.CancellationToken, parameterLocation,
                        ImmutableDictionary<string, string?>.Empty.Add(D.TokenProblem, "position"), name, "has its CancellationToken before other parameters"));
                }

                continue;
            }

            CheckType(context, known, parameter.Type, $"Parameter '{parameter.Name}'", name, parameterLocation);
            coverage?.Check(context, parameter.Type, $"Parameter '{parameter.Name}'", name, parameterLocation);
            CheckDataKept(context, parameter.Type, $"Parameter '{parameter.Name}'", name, parameterLocation, coverage);
        }

        if (tokenCount == 0 && !method.IsGenericMethod && location.IsInSource)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.NoCancellationToken, location, name));
        }

        string wireName = RpcShapes.MethodWireName(method);
        if (RpcShapes.GetAttribute(method, RpcShapes.RpcMethodAttribute) is { } methodAttribute)
        {
            CheckWireNameArgument(context, methodAttribute, "[RpcMethod]");
        }

        if (wireNames.TryGetValue(wireName, out IMethodSymbol? first))
        {
            context.ReportDiagnostic(Diagnostic.Create(D.DuplicateMethod, location,
                name, first.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat), wireName, serviceName));
        }
        else
        {
            wireNames.Add(wireName, method);
        }

        CheckTimeout(context, method);
        CheckPolicyValues(context, method);
        CheckResilience(context, method, service, location, name);
        (int? strategy, INamedTypeSymbol? balancer) = LoadBalanceOf(context, method);
        if (strategy is null && balancer is null)
        {
            (strategy, balancer) = (interfaceStrategy, interfaceBalancer);
        }

        if (balancer is null)
        {
            int effective = strategy ?? 0;
            if (hasHashKey && effective != RpcShapes.ConsistentHashStrategy)
            {
                context.ReportDiagnostic(Diagnostic.Create(D.HashKeyUnused, location, name, strategy is null ? "the default RoundRobin" : StrategyName(effective)));
            }
            else if (!hasHashKey && effective == RpcShapes.ConsistentHashStrategy)
            {
                context.ReportDiagnostic(Diagnostic.Create(D.HashKeyMissing, location, name));
            }
        }
    }

    private static string StrategyName(int value) => value switch
    {
        0 => "RoundRobin",
        1 => "Random",
        2 => "WeightedRoundRobin",
        3 => "WeightedRandom",
        4 => "LeastOutstanding",
        5 => "PowerOfTwoChoices",
        6 => "PeakEwma",
        8 => "LocalityAware",
        _ => value.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static Location? ReturnTypeLocation(IMethodSymbol method) =>
        method.DeclaringSyntaxReferences.Length > 0 && method.DeclaringSyntaxReferences[0].GetSyntax() is MethodDeclarationSyntax syntax
            ? syntax.ReturnType.GetLocation()
            : null;

    /// <summary>RPCGEN001's advice: a return type that compiles and passes the other rules.</summary>
    private static string ReturnTypeFix(ITypeSymbol returnType)
    {
        if (returnType.SpecialType == SpecialType.System_Void)
        {
            return "return Task instead";
        }

        if (returnType is INamedTypeSymbol { Name: "IAsyncEnumerable", TypeArguments.Length: 1 } stream)
        {
            string item = stream.TypeArguments[0].ToDisplayString();
            return $"streaming is not supported yet, so return the items at once: Task<List<{item}>> (or Task<{item}[]>)";
        }

        return $"return Task<{returnType.ToDisplayString()}> instead";
    }

    private static Location AttributeLocation(AttributeData attribute, Location fallback) =>
        attribute.ApplicationSyntaxReference?.GetSyntax().GetLocation() ?? fallback;

    /// <summary>RPCGEN008 for types that cannot be serialized at all; RPCGEN009 for ones without a known contract.</summary>
    private static void CheckType(SymbolAnalysisContext context, KnownTypes known, ITypeSymbol type, string what, string method, Location location)
    {
        if (type.TypeKind == TypeKind.TypeParameter)
        {
            return; // a generic method: RPCGEN003 says it all
        }

        string display = type.ToDisplayString();
        string? error = null;
        if (!RpcShapes.CanBeTypeArgument(type))
        {
            error = "it is a ref struct or a pointer";
        }
        else if (type.TypeKind == TypeKind.Delegate)
        {
            error = "it is a delegate: code cannot travel";
        }
        else if (type.SpecialType is SpecialType.System_IntPtr or SpecialType.System_UIntPtr)
        {
            error = "it is a native pointer value";
        }
        else if (IsOrDerives(type, known.Stream))
        {
            error = "it is a stream; send a byte[]";
        }
        else if (IsOrDerives(type, known.Task) || SymbolEqualityComparer.Default.Equals(type.OriginalDefinition, known.ValueTaskOfT) || SymbolEqualityComparer.Default.Equals(type, known.ValueTask))
        {
            error = "it is a task; await it and send its result";
        }
        else if (SymbolEqualityComparer.Default.Equals(type, known.Type))
        {
            error = "it is a System.Type";
        }

        if (error is not null)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.CannotSerialize, location, what, method, display, error));
            return;
        }

        if ((type.TypeKind == TypeKind.Interface || (type.IsAbstract && type.TypeKind == TypeKind.Class)) &&
            !IsKnownCollectionInterface(type) &&
            !type.GetAttributes().Any(a => a.AttributeClass?.Name is "JsonPolymorphicAttribute" or "JsonDerivedTypeAttribute"))
        {
            context.ReportDiagnostic(Diagnostic.Create(D.NoJsonContract, location, what, method, display,
                "is an interface or abstract type with no known JSON contract (the serializer cannot create it on the other side)"));
        }
    }

    private static bool IsOrDerives(ITypeSymbol type, INamedTypeSymbol? baseType)
    {
        for (ITypeSymbol? t = type; t is not null && baseType is not null; t = t.BaseType)
        {
            if (SymbolEqualityComparer.Default.Equals(t.OriginalDefinition, baseType))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsKnownCollectionInterface(ITypeSymbol type) =>
        type.ContainingNamespace?.ToDisplayString() == "System.Collections.Generic" &&
        type.Name is "IEnumerable" or "IReadOnlyList" or "IReadOnlyCollection" or "IList" or "ICollection" or
            "IDictionary" or "IReadOnlyDictionary" or "ISet" or "IReadOnlySet";

    private static void CheckWireNameArgument(SymbolAnalysisContext context, AttributeData attribute, string attributeName)
    {
        if (attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is string name &&
            (name.Length == 0 || name.IndexOf('/') >= 0 || name.Any(char.IsWhiteSpace)))
        {
            context.ReportDiagnostic(Diagnostic.Create(D.InvalidAttributeValue, AttributeLocation(attribute, Location.None),
                $"{attributeName} name '{name}' is not a valid wire name: use letters, digits, '.', '-' or '_', without '/' or spaces"));
        }
    }

    /// <summary>RPCGEN011 for [Retry], [Hedging] and [CircuitBreaker] values the runtime would reject.</summary>
    private static void CheckPolicyValues(SymbolAnalysisContext context, ISymbol symbol)
    {
        void Check(string attributeName, string metadataName, System.Func<string, TypedConstant, AttributeData, string?> rule)
        {
            if (RpcShapes.GetAttribute(symbol, metadataName) is not { } attribute)
            {
                return;
            }

            foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
            {
                if (rule(argument.Key, argument.Value, attribute) is string expected)
                {
                    context.ReportDiagnostic(Diagnostic.Create(D.InvalidAttributeValue, AttributeLocation(attribute, symbol.Locations[0]),
                        $"[{attributeName}({argument.Key} = {Format(argument.Value)})] on '{symbol.Name}' is invalid: {argument.Key} must be {expected}"));
                }
            }
        }

        Check("Retry", RpcShapes.RetryAttribute, static (key, value, attribute) => key switch
        {
            "MaxAttempts" when value.Value is int n && n < 1 => "at least 1 (1 means no retries)",
            "InitialBackoffMs" when value.Value is int n && n < 0 => "0 or more",
            "MaxBackoffMs" when value.Value is int n && n < NamedInt(attribute, "InitialBackoffMs", 100) => "at least InitialBackoffMs",
            "BackoffMultiplier" when value.Value is double d && !(d >= 1 && !double.IsInfinity(d)) => "1 or more",
            "PerAttemptTimeoutMs" when value.Value is int n && n < 0 => "0 (none) or more",
            _ => null,
        });
        Check("Hedging", RpcShapes.HedgingAttribute, static (key, value, _) => key switch
        {
            "MaxAttempts" when value.Value is int n && (n < 1 || n > 10) => "between 1 and 10",
            "DelayMs" when value.Value is int n && n < 0 => "0 (all attempts at once) or more",
            _ => null,
        });
        Check("CircuitBreaker", RpcShapes.CircuitBreakerAttribute, static (key, value, _) => key switch
        {
            "FailureRatio" when value.Value is double d && !(d > 0 && d <= 1) => "in (0, 1]",
            "MinimumThroughput" when value.Value is int n && n < 1 => "at least 1",
            "SamplingDurationMs" when value.Value is int n && n < 100 => "at least 100",
            "BreakDurationMs" when value.Value is int n && n < 1 => "at least 1",
            _ => null,
        });
    }

    private static int NamedInt(AttributeData attribute, string name, int fallback)
    {
        foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
        {
            if (argument.Key == name && argument.Value.Value is int value)
            {
                return value;
            }
        }

        return fallback;
    }

    private static double NamedDouble(AttributeData attribute, string name, double fallback)
    {
        foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
        {
            if (argument.Key == name && argument.Value.Value is double value)
            {
                return value;
            }
        }

        return fallback;
    }

    private static string Format(TypedConstant value) =>
        value.Value is double d ? d.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : System.Convert.ToString(value.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "null";

    /// <summary>
    /// RPCGEN017: [Retry]/[Hedging] (the method's, else the interface's) on a method that may not repeat.
    /// RPCGEN018: a deadline shorter than the backoff the retry policy waits between its attempts.
    /// </summary>
    private static void CheckResilience(SymbolAnalysisContext context, IMethodSymbol method, INamedTypeSymbol service, Location location, string name)
    {
        AttributeData? Effective(string metadataName) =>
            RpcShapes.GetAttribute(method, metadataName) ?? RpcShapes.GetAttribute(service, metadataName);

        bool idempotent = RpcShapes.GetAttribute(method, RpcShapes.IdempotentAttribute) is not null || RpcShapes.GetAttribute(service, RpcShapes.IdempotentAttribute) is not null;
        bool deduplicate = RpcShapes.GetAttribute(method, RpcShapes.DeduplicateAttribute) is not null || RpcShapes.GetAttribute(service, RpcShapes.DeduplicateAttribute) is not null;
        AttributeData? retry = Effective(RpcShapes.RetryAttribute);
        AttributeData? hedging = Effective(RpcShapes.HedgingAttribute);
        int retryAttempts = retry is null ? 1 : NamedInt(retry, "MaxAttempts", 3);
        int hedgingAttempts = hedging is null ? 1 : NamedInt(hedging, "MaxAttempts", 2);
        bool broadcast = RpcShapes.GetAttribute(method, RpcShapes.BroadcastAttribute) is not null;

        if (!broadcast && !idempotent && hedgingAttempts > 1)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.RetryNotIdempotent, location, name, "[Hedging]",
                (deduplicate ? "is not [Idempotent] ([Deduplicate] is not enough: a hedge runs while the first attempt may still be running)" : "is not [Idempotent]") +
                ", so it is never hedged; add [Idempotent] if running it twice at once is harmless, or remove [Hedging]"));
        }
        else if (!broadcast && !idempotent && !deduplicate && retryAttempts > 1)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.RetryNotIdempotent, location, name,
                RpcShapes.GetAttribute(method, RpcShapes.RetryAttribute) is null ? "[Retry] from its interface" : "[Retry]",
                "is neither [Idempotent] nor [Deduplicate], so it is only retried when its request never reached a server; add [Idempotent] if running it twice is harmless, or [Deduplicate] to make the server run it once"));
        }

        if (retry is not null && retryAttempts > 1 && (idempotent || deduplicate))
        {
            int timeout = TimeoutMs(method) ?? TimeoutMs(service) ?? 0;
            if (timeout > 0)
            {
                // The least the policy waits: each delay at its low jitter bound (× 0.8).
                double initial = NamedInt(retry, "InitialBackoffMs", 100), max = NamedInt(retry, "MaxBackoffMs", 1000);
                double multiplier = NamedDouble(retry, "BackoffMultiplier", 2);
                double total = 0;
                for (int n = 0; n < retryAttempts - 1 && n < 64; n++)
                {
                    total += 0.8 * System.Math.Min(initial * System.Math.Pow(multiplier, n), max);
                }

                if (total >= timeout)
                {
                    context.ReportDiagnostic(Diagnostic.Create(D.TimeoutShorterThanBackoff, location, name, timeout,
                        ((long)total).ToString(System.Globalization.CultureInfo.InvariantCulture), retryAttempts));
                }
            }
        }
    }

    private static int? TimeoutMs(ISymbol symbol) =>
        RpcShapes.GetAttribute(symbol, RpcShapes.TimeoutAttribute) is { ConstructorArguments.Length: 1 } attribute &&
        attribute.ConstructorArguments[0].Value is int milliseconds && milliseconds > 0
            ? milliseconds
            : null;

    private static void CheckTimeout(SymbolAnalysisContext context, ISymbol symbol)
    {
        if (RpcShapes.GetAttribute(symbol, RpcShapes.TimeoutAttribute) is { ConstructorArguments.Length: 1 } attribute &&
            attribute.ConstructorArguments[0].Value is int milliseconds && milliseconds <= 0)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.InvalidAttributeValue, AttributeLocation(attribute, symbol.Locations[0]),
                $"[Timeout({milliseconds})] on '{symbol.Name}' is not a deadline: give a positive number of milliseconds, or remove the attribute for no deadline"));
        }
    }

    private static (int? Strategy, INamedTypeSymbol? Balancer) LoadBalanceOf(SymbolAnalysisContext context, ISymbol symbol)
    {
        if (RpcShapes.GetAttribute(symbol, RpcShapes.LoadBalanceAttribute) is not { ConstructorArguments.Length: 1 } attribute)
        {
            return (null, null);
        }

        TypedConstant argument = attribute.ConstructorArguments[0];
        if (argument.Kind == TypedConstantKind.Enum && argument.Value is int strategy)
        {
            return (strategy, null);
        }

        if (argument.Value is INamedTypeSymbol balancer)
        {
            if (!RpcShapes.IsUsableBalancer(balancer))
            {
                context.ReportDiagnostic(Diagnostic.Create(D.BadBalancer, AttributeLocation(attribute, symbol.Locations[0]), balancer.ToDisplayString()));
                return (null, null);
            }

            return (null, balancer);
        }

        return (null, null);
    }

    /// <summary>The context named by [RpcService(JsonContext = ...)], or null (RPCGEN011 when it is not a context).</summary>
    private static JsonContextCoverage? JsonContextOf(SymbolAnalysisContext context, AttributeData serviceAttribute, Location where)
    {
        foreach (KeyValuePair<string, TypedConstant> argument in serviceAttribute.NamedArguments)
        {
            if (argument.Key != "JsonContext" || argument.Value.Value is not INamedTypeSymbol named)
            {
                continue;
            }

            if (!RpcShapes.IsJsonContext(named))
            {
                context.ReportDiagnostic(Diagnostic.Create(D.InvalidAttributeValue, AttributeLocation(serviceAttribute, where),
                    $"JsonContext = typeof({named.ToDisplayString()}) is not a JSON context: name a concrete partial class deriving from JsonSerializerContext with [JsonSerializable] attributes"));
                return null;
            }

            return new JsonContextCoverage(named);
        }

        return null;
    }

    /// <summary>
    /// The types a source-generated context can serialize: its [JsonSerializable] roots and, as System.Text.Json's
    /// generator does, every type reachable from them through public properties and fields, array elements and generic
    /// type arguments.
    /// </summary>
    private sealed class JsonContextCoverage
    {
        private readonly INamedTypeSymbol _context;
        private readonly HashSet<string> _covered = new(System.StringComparer.Ordinal);

        /// <summary>The context's name, for messages.</summary>
        public string Name => _context.ToDisplayString();

        /// <summary>Whether the context serializes public fields ([JsonSourceGenerationOptions(IncludeFields = true)]).</summary>
        public bool IncludeFields { get; }

        public JsonContextCoverage(INamedTypeSymbol context)
        {
            _context = context;
            IncludeFields = context.GetAttributes().Any(a =>
                a.AttributeClass?.ToDisplayString() == "System.Text.Json.Serialization.JsonSourceGenerationOptionsAttribute" &&
                a.NamedArguments.Any(n => n.Key == "IncludeFields" && n.Value.Value is true));
            var pending = new Stack<ITypeSymbol>();
            foreach (AttributeData attribute in context.GetAttributes())
            {
                if (attribute.AttributeClass?.ToDisplayString() == "System.Text.Json.Serialization.JsonSerializableAttribute" &&
                    attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is ITypeSymbol root)
                {
                    pending.Push(root);
                }
            }

            while (pending.Count > 0)
            {
                ITypeSymbol type = pending.Pop();
                if (!_covered.Add(TypeKey(type)))
                {
                    continue;
                }

                if (type is IArrayTypeSymbol array)
                {
                    pending.Push(array.ElementType);
                    continue;
                }

                if (type is not INamedTypeSymbol named || type.SpecialType != SpecialType.None)
                {
                    continue;
                }

                foreach (ITypeSymbol argument in named.TypeArguments)
                {
                    pending.Push(argument);
                }

                if (named.ContainingNamespace?.ToDisplayString().StartsWith("System", System.StringComparison.Ordinal) == true)
                {
                    continue; // framework types: their generic arguments matter, not their members
                }

                foreach (ISymbol member in named.GetMembers())
                {
                    if (member.IsStatic || member.DeclaredAccessibility != Accessibility.Public)
                    {
                        continue;
                    }

                    if (member is IPropertySymbol { IsIndexer: false } property)
                    {
                        pending.Push(property.Type);
                    }
                    else if (member is IFieldSymbol field)
                    {
                        pending.Push(field.Type);
                    }
                }
            }
        }

        public void Check(SymbolAnalysisContext context, ITypeSymbol type, string what, string method, Location location)
        {
            if (!_covered.Contains(TypeKey(type)))
            {
                context.ReportDiagnostic(Diagnostic.Create(D.NotInJsonContext, location, what, method, type.ToDisplayString(), _context.ToDisplayString()));
            }
        }
    }

    /// <summary>
    /// A type's identity as a JSON contract: tuple element names do not matter (<c>(int Count, string Name)</c> and
    /// <c>(int, string)</c> are one <c>ValueTuple&lt;int, string&gt;</c> to the serializer), nor does nullability.
    /// </summary>
    private static string TypeKey(ITypeSymbol type) => type switch
    {
        IArrayTypeSymbol array => TypeKey(array.ElementType) + "[" + new string(',', array.Rank - 1) + "]",
        INamedTypeSymbol { IsTupleType: true, TupleUnderlyingType: { } underlying } => TypeKey(underlying),
        INamedTypeSymbol { IsGenericType: true } named =>
            named.OriginalDefinition.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat) + "<" + string.Join(",", named.TypeArguments.Select(TypeKey)) + ">",
        _ => type.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat),
    };

    private static void ReportDuplicateServices(CompilationAnalysisContext context, ConcurrentBag<(string Name, INamedTypeSymbol Type, Location Location)> services)
    {
        foreach (IGrouping<string, (string Name, INamedTypeSymbol Type, Location Location)> group in services.GroupBy(s => s.Name, System.StringComparer.Ordinal))
        {
            var ordered = group
                .OrderBy(s => s.Location.SourceTree?.FilePath, System.StringComparer.Ordinal)
                .ThenBy(s => s.Location.SourceSpan.Start)
                .ToList();
            for (int i = 1; i < ordered.Count; i++)
            {
                context.ReportDiagnostic(Diagnostic.Create(D.DuplicateService, ordered[i].Location,
                    ordered[i].Type.ToDisplayString(), ordered[0].Type.ToDisplayString(), group.Key));
            }
        }
    }
}

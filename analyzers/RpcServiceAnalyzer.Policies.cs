using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using RpcGen.Shared;
using D = RpcGen.Analyzers.DiagnosticDescriptors;

namespace RpcGen.Analyzers;

/// <summary>Attribute values: wire names, timeouts, policies the runtime would reject, retries that cannot happen, balancers.</summary>
public sealed partial class RpcServiceAnalyzer
{
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
        Check("Streaming", RpcShapes.StreamingAttribute, static (key, value, _) => key switch
        {
            "WindowItems" or "MaxWindowItems" when value.Value is int n && n is < 1 or > 65_536 => "between 1 and 65536",
            "WindowBytes" when value.Value is int n && n is < 1024 or > 64 * 1024 * 1024 => "between 1024 and 67108864",
            "IdleTimeoutMs" when value.Value is int n && n < 0 => "0 (none) or more",
            _ => null,
        });
        Check("Compress", RpcShapes.CompressAttribute, static (key, value, _) => key switch
        {
            "MinSize" when value.Value is int n && n < 0 => "0 or more",
            "Level" when value.Value is int n && n is < 0 or > 3 => "a defined CompressionLevel",
            "Algorithm" when value.Value is byte n && n > 3 => "None, Gzip, Brotli or Zstd",
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

    /// <summary>
    /// RPCGEN025: <c>[Resumable]</c>/<c>[ResumeFrom]</c> where they cannot work; RPCGEN023: a streaming method with an
    /// attribute that cannot apply to a stream (on the method itself).
    /// </summary>
    private static void CheckStreaming(SymbolAnalysisContext context, MemberShape shape, IMethodSymbol method, Location location, string name)
    {
        if (shape.ResumableProblem is { } problem)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.Resumable, location, name, problem));
        }

        if (!shape.IsStreaming)
        {
            return;
        }

        (string Attribute, string Why)[] refused =
        {
            (RpcShapes.HedgingAttribute, "would send the stream twice at once, and a stream's items cannot be taken back"),
            (RpcShapes.BroadcastAttribute, "would open one stream per endpoint behind one enumeration"),
            (RpcShapes.DeduplicateAttribute, "cannot replay a stream's items to a repeated call"),
        };
        foreach ((string attribute, string why) in refused)
        {
            if (RpcShapes.GetAttribute(method, attribute) is { } found)
            {
                string shown = "[" + attribute.Substring("RpcGen.".Length, attribute.Length - "RpcGen.".Length - "Attribute".Length) + "]";
                context.ReportDiagnostic(Diagnostic.Create(D.StreamPolicy, AttributeLocation(found, location), name, shown, why));
            }
        }
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

        bool Marked(string attribute) => RpcShapes.GetAttribute(method, attribute) is not null || RpcShapes.GetAttribute(service, attribute) is not null;
        bool idempotent = Marked(RpcShapes.IdempotentAttribute) || Marked(RpcShapes.NoSideEffectsAttribute);
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

    private static Location AttributeLocation(AttributeData attribute, Location fallback) =>
        attribute.ApplicationSyntaxReference?.GetSyntax().GetLocation() ?? fallback;

    /// <summary>RPCGEN012/013: [HashKey] arguments with a strategy that ignores them, or ConsistentHash without any.</summary>
    private static void CheckHashKey(SymbolAnalysisContext context, IMethodSymbol method, Location location, string name, bool hasHashKey, int? interfaceStrategy, INamedTypeSymbol? interfaceBalancer)
    {
        (int? strategy, INamedTypeSymbol? balancer) = LoadBalanceOf(context, method);
        if (strategy is null && balancer is null)
        {
            (strategy, balancer) = (interfaceStrategy, interfaceBalancer);
        }

        if (balancer is not null)
        {
            return;
        }

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

    /// <summary>
    /// RPCGEN026: a method that requires an authenticated caller (its own or its interface's [RpcAuthorize], no
    /// [RpcAllowAnonymous] on it) and compresses over TLS (its own or its interface's [Compress(AllowOverTls = true)]).
    /// </summary>
    private static void CheckCompression(
        SymbolAnalysisContext context, IMethodSymbol method, INamedTypeSymbol service, Location location, string name)
    {
        AttributeData? compress = RpcShapes.GetAttribute(method, RpcShapes.CompressAttribute)
            ?? RpcShapes.GetAttribute(service, RpcShapes.CompressAttribute);
        if (compress is null || !NamedBool(compress, "AllowOverTls") || Algorithm(compress) == 0)
        {
            return;
        }

        bool authorized = (RpcShapes.GetAttribute(method, RpcShapes.AuthorizeAttribute)
            ?? RpcShapes.GetAttribute(service, RpcShapes.AuthorizeAttribute)) is not null;
        if (authorized && RpcShapes.GetAttribute(method, RpcShapes.AllowAnonymousAttribute) is null)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.CompressedSecrets, AttributeLocation(compress, location), name));
        }

        static int Algorithm(AttributeData attribute)
        {
            int algorithm = attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is byte given ? given : 3;
            foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
            {
                if (argument.Key == "Algorithm" && argument.Value.Value is byte named)
                {
                    algorithm = named;
                }
            }

            return algorithm;
        }
    }

    private static bool NamedBool(AttributeData attribute, string name)
    {
        foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
        {
            if (argument.Key == name && argument.Value.Value is bool value)
            {
                return value;
            }
        }

        return false;
    }

    /// <summary>RPCGEN021: [RpcAuthorize] and [RpcAllowAnonymous] on one symbol; RPCGEN022: Roles that name no role.</summary>
    private static void CheckAuthorization(SymbolAnalysisContext context, ISymbol symbol)
    {
        bool authorizes = false;
        foreach (AttributeData attribute in symbol.GetAttributes())
        {
            if (!RpcShapes.IsNamed(attribute.AttributeClass, RpcShapes.AuthorizeAttribute))
            {
                continue;
            }

            authorizes = true;
            foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
            {
                if (argument.Key == "Roles" && argument.Value.Value is string roles && RpcShapes.Roles(attribute).Length == 0)
                {
                    context.ReportDiagnostic(Diagnostic.Create(D.EmptyRoles, AttributeLocation(attribute, symbol.Locations[0]), symbol.Name, roles));
                }
            }
        }

        if (authorizes && RpcShapes.GetAttribute(symbol, RpcShapes.AllowAnonymousAttribute) is { } anonymous)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.AuthorizationContradiction, AttributeLocation(anonymous, symbol.Locations[0]), symbol.Name));
        }
    }
}

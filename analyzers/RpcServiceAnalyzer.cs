using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using RpcGen.Shared;
using D = RpcGen.Analyzers.DiagnosticDescriptors;

namespace RpcGen.Analyzers;

/// <summary>
/// Checks <c>[RpcService]</c> interfaces as they are typed: shapes the generator cannot send, wire-name clashes,
/// invalid attribute values, and load-balancing attributes that cannot work. One symbol action per interface (no
/// compilation walks); duplicate service names are compared once at the end of the compilation. The shape rules are
/// <see cref="ServiceShape"/>'s, shared with the generator; this file walks services, the partials report shape
/// problems (.Shape), types and JSON contracts (.Types, .DataKept) and attribute values (.Policies).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed partial class RpcServiceAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        D.ReturnType, D.ByRefParameter, D.GenericMethod, D.NotGenerated, D.CancellationToken, D.DuplicateMethod,
        D.DuplicateService, D.CannotSerialize, D.NoJsonContract, D.NotAMethod, D.InvalidAttributeValue, D.RetryNotIdempotent, D.TimeoutShorterThanBackoff,
        D.HashKeyUnused, D.HashKeyMissing, D.BadBalancer, D.NoCancellationToken, D.NotInJsonContext, D.DataDropped, D.Disposable,
        D.AuthorizationContradiction, D.EmptyRoles, D.StreamPolicy, D.TwoStreams, D.Resumable, D.CompressedSecrets);

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

            var services = new ConcurrentBag<(string Name, INamedTypeSymbol Type, Location Location)>();
            start.RegisterSymbolAction(c => AnalyzeInterface(c, services), SymbolKind.NamedType);
            start.RegisterCompilationEndAction(end => ReportDuplicateServices(end, services));
        });
    }

    private static void AnalyzeInterface(SymbolAnalysisContext context, ConcurrentBag<(string, INamedTypeSymbol, Location)> services)
    {
        if (context.Symbol is not INamedTypeSymbol { TypeKind: TypeKind.Interface } type ||
            RpcShapes.GetAttribute(type, RpcShapes.RpcServiceAttribute) is not { } serviceAttribute)
        {
            return;
        }

        Location where = type.Locations.FirstOrDefault(l => l.IsInSource) ?? Location.None;
        if (ServiceShape.WhyNotGenerated(type) is { } skipped)
        {
            context.ReportDiagnostic(Diagnostic.Create(D.NotGenerated, where, type.ToDisplayString(), skipped));
            return;
        }

        string serviceName = RpcShapes.ServiceWireName(type, serviceAttribute);
        CheckWireNameArgument(context, serviceAttribute, "[RpcService]");
        CheckTimeout(context, type);
        CheckPolicyValues(context, type);
        CheckAuthorization(context, type);
        (int? interfaceStrategy, INamedTypeSymbol? interfaceBalancer) = LoadBalanceOf(context, type);
        JsonContextCoverage? coverage = JsonContextOf(context, serviceAttribute, where);
        services.Add((serviceName, type, where));

        var disposables = new HashSet<INamedTypeSymbol>(SymbolEqualityComparer.Default);
        foreach (MemberShape shape in ServiceShape.Members(type))
        {
            Location location = shape.Member.Locations.FirstOrDefault(l => l.IsInSource) ?? where;
            switch (shape.Kind)
            {
                case MemberShapeKind.LocalDispose when disposables.Add(shape.Declaring):
                    // Its Dispose/DisposeAsync is implemented locally by the proxy, never called remotely.
                    context.ReportDiagnostic(Diagnostic.Create(D.Disposable, where, type.ToDisplayString(), shape.Declaring.Name,
                        shape.Declaring.Name == "IDisposable" ? "Dispose()" : "DisposeAsync()"));
                    break;
                case MemberShapeKind.Property or MemberShapeKind.Indexer:
                    context.ReportDiagnostic(Diagnostic.Create(D.NotAMethod, location, shape.Kind.ToString(), shape.Member.ToDisplayString()));
                    break;
                case MemberShapeKind.Event:
                    context.ReportDiagnostic(Diagnostic.Create(D.NotAMethod, location, "Event", shape.Member.ToDisplayString()));
                    break;
                case MemberShapeKind.Method:
                    AnalyzeMethod(context, shape, location, serviceName, interfaceStrategy, interfaceBalancer, coverage, type);
                    break;
            }
        }
    }

    /// <summary>A method: its shape problems (<see cref="ServiceShape"/>), its types' JSON contracts, its attributes.</summary>
    private static void AnalyzeMethod(
        SymbolAnalysisContext context, MemberShape shape, Location location, string serviceName,
        int? interfaceStrategy, INamedTypeSymbol? interfaceBalancer, JsonContextCoverage? coverage, INamedTypeSymbol service)
    {
        var method = (IMethodSymbol)shape.Member;
        string name = method.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat);
        var unserializable = new HashSet<IParameterSymbol?>(SymbolEqualityComparer.Default);
        bool resultUnserializable = false;
        foreach (ShapeProblem problem in shape.Problems)
        {
            ReportShapeProblem(context, problem, method, name, location, serviceName);
            if (problem.Kind is ShapeProblemKind.CannotSerialize or ShapeProblemKind.RefParameter or ShapeProblemKind.ParamsParameter)
            {
                resultUnserializable |= problem.Parameter is null;
                unserializable.Add(problem.Parameter);
            }
        }

        if (shape.Result is not null && !resultUnserializable)
        {
            Location resultLocation = ReturnTypeLocation(method) ?? location;
            CheckContract(context, shape.Result, "The result", name, resultLocation);
            coverage?.Check(context, shape.Result, "The result", name, resultLocation);
            CheckDataKept(context, shape.Result, "The result", name, resultLocation, coverage);
        }

        bool hasHashKey = false;
        foreach (IParameterSymbol parameter in method.Parameters)
        {
            hasHashKey |= RpcShapes.HasAttribute(parameter, RpcShapes.HashKeyAttribute);
            if (RpcShapes.IsCancellationToken(parameter.Type) || unserializable.Contains(parameter))
            {
                continue;
            }

            // The caller's stream travels item by item: its items need the contract, not the IAsyncEnumerable.
            ITypeSymbol travels = RpcShapes.StreamItem(parameter.Type) ?? parameter.Type;
            string what = travels.Equals(parameter.Type, SymbolEqualityComparer.Default)
                ? $"Parameter '{parameter.Name}'"
                : $"The items of parameter '{parameter.Name}'";
            Location parameterLocation = parameter.Locations.FirstOrDefault(l => l.IsInSource) ?? location;
            CheckContract(context, travels, what, name, parameterLocation);
            coverage?.Check(context, travels, what, name, parameterLocation);
            CheckDataKept(context, travels, what, name, parameterLocation, coverage);
        }

        if (!method.IsGenericMethod && location.IsInSource && !method.Parameters.Any(p => RpcShapes.IsCancellationToken(p.Type)))
        {
            context.ReportDiagnostic(Diagnostic.Create(D.NoCancellationToken, location, name));
        }

        if (RpcShapes.GetAttribute(method, RpcShapes.RpcMethodAttribute) is { } methodAttribute)
        {
            CheckWireNameArgument(context, methodAttribute, "[RpcMethod]");
        }

        CheckTimeout(context, method);
        CheckPolicyValues(context, method);
        CheckAuthorization(context, method);
        CheckResilience(context, method, service, location, name);
        CheckStreaming(context, shape, method, location, name);
        CheckCompression(context, method, service, location, name);
        CheckHashKey(context, method, location, name, hasHashKey, interfaceStrategy, interfaceBalancer);
    }

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

using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using RpcGen.Shared;
using D = RpcGen.Analyzers.DiagnosticDescriptors;

namespace RpcGen.Analyzers;

/// <summary>Shape problems (<see cref="ServiceShape"/>, shared with the generator) as diagnostics, with their advice.</summary>
public sealed partial class RpcServiceAnalyzer
{
    /// <summary>One broken shape rule as its diagnostic: RPCGEN001, 002, 003, 005, 006 or 008.</summary>
    private static void ReportShapeProblem(SymbolAnalysisContext context, ShapeProblem problem, IMethodSymbol method, string name, Location location, string serviceName)
    {
        Location at = problem.Parameter?.Locations.FirstOrDefault(l => l.IsInSource) ?? location;
        switch (problem.Kind)
        {
            case ShapeProblemKind.GenericMethod:
                context.ReportDiagnostic(Diagnostic.Create(D.GenericMethod, location, name));
                break;
            case ShapeProblemKind.RefReturn:
                context.ReportDiagnostic(Diagnostic.Create(D.ReturnType, ReturnTypeLocation(method) ?? location, name, "ref " + method.ReturnType.ToDisplayString(),
                    "return the task by value (remove 'ref')"));
                break;
            case ShapeProblemKind.ReturnType:
                context.ReportDiagnostic(Diagnostic.Create(D.ReturnType, ReturnTypeLocation(method) ?? location, name, method.ReturnType.ToDisplayString(),
                    ReturnTypeFix(method.ReturnType)));
                break;
            case ShapeProblemKind.ParamsParameter:
                context.ReportDiagnostic(Diagnostic.Create(D.ByRefParameter, at, problem.Parameter!.Name, name,
                    "is declared 'params', which RPC methods do not support (a proxy must match the interface exactly, and the array travels as one value); remove 'params' and let callers pass an array"));
                break;
            case ShapeProblemKind.RefParameter:
                RefKind kind = problem.Parameter!.RefKind;
                context.ReportDiagnostic(Diagnostic.Create(D.ByRefParameter, at, problem.Parameter.Name, name,
                    $"is {(kind is RefKind.In or RefKind.Out ? "an" : "a")} '{kind switch { RefKind.Out => "out", RefKind.In => "in", _ => "ref" }}' parameter, which cannot cross the network (the callee's writes cannot come back through it); pass it by value and return results in the task"));
                break;
            case ShapeProblemKind.ExtraCancellationToken:
                context.ReportDiagnostic(Diagnostic.Create(D.CancellationToken, at,
                    ImmutableDictionary<string, string?>.Empty.Add(D.TokenProblem, "duplicate"), name, "takes more than one CancellationToken"));
                break;
            case ShapeProblemKind.CancellationTokenNotLast:
                context.ReportDiagnostic(Diagnostic.Create(D.CancellationToken, at,
                    ImmutableDictionary<string, string?>.Empty.Add(D.TokenProblem, "position"), name, "has its CancellationToken before other parameters"));
                break;
            case ShapeProblemKind.CannotSerialize:
                string what = problem.Parameter is null ? "The result" : $"Parameter '{problem.Parameter.Name}'";
                Location typeAt = problem.Parameter is null ? ReturnTypeLocation(method) ?? location : at;
                context.ReportDiagnostic(Diagnostic.Create(D.CannotSerialize, typeAt, what, name, problem.Type!.ToDisplayString(), problem.Why));
                break;
            case ShapeProblemKind.ExtraStreamParameter:
                context.ReportDiagnostic(Diagnostic.Create(D.TwoStreams, at, problem.Parameter!.Name, name));
                break;
            case ShapeProblemKind.DuplicateWireName:
                context.ReportDiagnostic(Diagnostic.Create(D.DuplicateMethod, location,
                    name, problem.Other!.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat), RpcShapes.MethodWireName(method), serviceName));
                break;
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

        return $"return Task<{returnType.ToDisplayString()}> instead";
    }
}

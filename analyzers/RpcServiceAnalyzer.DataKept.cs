using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using D = RpcGen.Analyzers.DiagnosticDescriptors;

namespace RpcGen.Analyzers;

/// <summary>RPCGEN019: data the JSON contract would silently drop on its way to the other side.</summary>
public sealed partial class RpcServiceAnalyzer
{
    /// <summary>
    /// Walks the type of a parameter or result (and the user types, elements and type arguments it holds) and reports
    /// the first member whose value would not arrive: tuple elements and public fields under a JSON context without
    /// IncludeFields (RpcGen's default options include fields), and public properties the receiving side cannot set
    /// (no public setter or init, no constructor parameter of that name, no [JsonInclude], not populated).
    /// </summary>
    private static void CheckDataKept(SymbolAnalysisContext context, ITypeSymbol type, string what, string method, Location location, JsonContextCoverage? json)
    {
        var seen = new HashSet<ITypeSymbol>(SymbolEqualityComparer.Default);
        var pending = new Stack<ITypeSymbol>();
        pending.Push(type);
        while (pending.Count > 0)
        {
            ITypeSymbol current = pending.Pop();
            if (!seen.Add(current) || seen.Count > 200)
            {
                continue;
            }

            if (current is IArrayTypeSymbol array)
            {
                pending.Push(array.ElementType);
                continue;
            }

            if (current is not INamedTypeSymbol named || current.SpecialType != SpecialType.None || current.TypeKind is TypeKind.Enum or TypeKind.Interface)
            {
                continue;
            }

            if (named.IsTupleType)
            {
                if (json is { IncludeFields: false })
                {
                    Report(context, location, what, method, type, current, "elements",
                        $"tuple elements are fields, and the JSON context '{json.Name}' does not serialize fields",
                        $"add IncludeFields = true to [JsonSourceGenerationOptions] on '{json.Name}', or use a record");
                    return;
                }

                foreach (ITypeSymbol element in named.TupleElements.Select(e => e.Type))
                {
                    pending.Push(element);
                }

                continue;
            }

            foreach (ITypeSymbol argument in named.TypeArguments)
            {
                pending.Push(argument);
            }

            if (named.ContainingNamespace?.ToDisplayString().StartsWith("System", System.StringComparison.Ordinal) == true ||
                HasAttribute(named, "JsonConverterAttribute"))
            {
                continue; // framework types and types with their own converter carry their data as they define
            }

            IMethodSymbol[] constructors = named.InstanceConstructors.Where(c => c.DeclaredAccessibility == Accessibility.Public).ToArray();
            foreach (ISymbol member in named.GetMembers())
            {
                if (member.IsStatic || member.IsImplicitlyDeclared || member.DeclaredAccessibility != Accessibility.Public || HasAttribute(member, "JsonIgnoreAttribute"))
                {
                    continue;
                }

                if (member is IFieldSymbol field)
                {
                    if (json is { IncludeFields: false } && !HasAttribute(field, "JsonIncludeAttribute"))
                    {
                        Report(context, location, what, method, type, current, $"field '{field.Name}'",
                            $"the JSON context '{json.Name}' does not serialize fields",
                            $"make '{field.Name}' a property, or add IncludeFields = true to [JsonSourceGenerationOptions] on '{json.Name}'");
                        return;
                    }

                    pending.Push(field.Type);
                }
                else if (member is IPropertySymbol { IsIndexer: false, GetMethod: not null } property && property.GetMethod.DeclaredAccessibility == Accessibility.Public)
                {
                    bool settable = property.SetMethod is { } setter &&
                        (setter.DeclaredAccessibility == Accessibility.Public || HasAttribute(property, "JsonIncludeAttribute"));
                    bool viaConstructor = constructors.Any(c => c.Parameters.Any(p => string.Equals(p.Name, property.Name, System.StringComparison.OrdinalIgnoreCase)));
                    bool populated = HasAttribute(property, "JsonObjectCreationHandlingAttribute") || HasAttribute(named, "JsonObjectCreationHandlingAttribute");
                    if (!settable && !viaConstructor && !populated)
                    {
                        Report(context, location, what, method, type, current, $"property '{property.Name}'",
                            "it has no public setter and no constructor parameter, so the receiver never sets it",
                            $"give '{property.Name}' a public set or init accessor, or a constructor parameter named '{char.ToLowerInvariant(property.Name[0])}{property.Name.Substring(1)}'");
                        return;
                    }

                    pending.Push(property.Type);
                }
            }
        }
    }

    private static void Report(SymbolAnalysisContext context, Location location, string what, string method, ITypeSymbol type, ITypeSymbol holder, string member, string why, string fix)
    {
        string where = SymbolEqualityComparer.Default.Equals(type, holder) ? member : $"{member} (in '{holder.ToDisplayString()}')";
        context.ReportDiagnostic(Diagnostic.Create(D.DataDropped, location, what, method, type.ToDisplayString(), where, why, fix));
    }

    private static bool HasAttribute(ISymbol symbol, string name) =>
        symbol.GetAttributes().Any(a => a.AttributeClass?.Name == name);
}

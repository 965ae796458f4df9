using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using RpcGen.Shared;
using D = RpcGen.Analyzers.DiagnosticDescriptors;

namespace RpcGen.Analyzers;

/// <summary>JSON contracts: abstract types without one (RPCGEN009) and types a named JsonContext does not cover (RPCGEN016).</summary>
public sealed partial class RpcServiceAnalyzer
{
    /// <summary>
    /// RPCGEN009: an interface or abstract type with no known JSON contract (the serializer cannot create it on the other
    /// side). Types that cannot be serialized at all are shape problems (RPCGEN008).
    /// </summary>
    private static void CheckContract(SymbolAnalysisContext context, ITypeSymbol type, string what, string method, Location location)
    {
        if ((type.TypeKind == TypeKind.Interface || (type.IsAbstract && type.TypeKind == TypeKind.Class)) &&
            !IsKnownCollectionInterface(type) &&
            !type.GetAttributes().Any(a => a.AttributeClass?.Name is "JsonPolymorphicAttribute" or "JsonDerivedTypeAttribute"))
        {
            context.ReportDiagnostic(Diagnostic.Create(D.NoJsonContract, location, what, method, type.ToDisplayString(),
                "is an interface or abstract type with no known JSON contract (the serializer cannot create it on the other side)"));
        }
    }

    private static bool IsKnownCollectionInterface(ITypeSymbol type) =>
        type.ContainingNamespace?.ToDisplayString() == "System.Collections.Generic" &&
        type.Name is "IEnumerable" or "IReadOnlyList" or "IReadOnlyCollection" or "IList" or "ICollection" or
            "IDictionary" or "IReadOnlyDictionary" or "ISet" or "IReadOnlySet";

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
}

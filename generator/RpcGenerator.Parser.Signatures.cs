using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace RpcGen.Generator;

public sealed partial class RpcGenerator
{
    /// <summary>C# the proxy repeats from the interface: member signatures, parameter defaults, names in messages.</summary>
    internal static partial class Parser
    {
        /// <summary>The parameter's default as a C# expression of its type, or null when it has none.</summary>
        private static string? DefaultValue(IParameterSymbol parameter)
        {
            if (!parameter.HasExplicitDefaultValue)
            {
                return null;
            }

            object? value = parameter.ExplicitDefaultValue;
            string type = parameter.Type.ToDisplayString(s_fullyQualified);
            switch (value)
            {
                case null:
                    return "default!";
                case double d when double.IsNaN(d):
                    return "double.NaN";
                case double d when double.IsPositiveInfinity(d):
                    return "double.PositiveInfinity";
                case double d when double.IsNegativeInfinity(d):
                    return "double.NegativeInfinity";
                case float f when float.IsNaN(f):
                    return "float.NaN";
                case float f when float.IsPositiveInfinity(f):
                    return "float.PositiveInfinity";
                case float f when float.IsNegativeInfinity(f):
                    return "float.NegativeInfinity";
                case double d:
                    return $"({type})({d.ToString("R", CultureInfo.InvariantCulture)}d)";
                case float f:
                    return $"({type})({f.ToString("R", CultureInfo.InvariantCulture)}f)";
                case decimal m:
                    return $"({type})({m.ToString(CultureInfo.InvariantCulture)}m)";
                default:
                    return $"({type})({SymbolDisplay.FormatPrimitive(value, quoteStrings: true, useHexadecimalNumbers: false)})";
            }
        }

        private static string Escape(string name) => SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None || SyntaxFacts.GetContextualKeywordKind(name) != SyntaxKind.None ? "@" + name : name;

        private static string ParameterList(IEnumerable<IParameterSymbol> parameters)
        {
            var builder = new StringBuilder();
            foreach (IParameterSymbol p in parameters)
            {
                if (builder.Length > 0)
                {
                    builder.Append(", ");
                }

                builder.Append(p.RefKind switch
                {
                    RefKind.Ref => "ref ",
                    RefKind.Out => "out ",
                    RefKind.In => "in ",
                    _ => string.Empty,
                });
                if (p.IsParams)
                {
                    builder.Append("params ");
                }

                builder.Append(p.Type.ToDisplayString(s_fullyQualified)).Append(" @").Append(p.Name);
            }

            return builder.ToString();
        }

        /// <summary>How messages name a member: <c>IShapes.Name</c>, <c>IShapes.Add(int, int)</c>.</summary>
        private static string MemberName(INamedTypeSymbol declaring, ISymbol member) => member switch
        {
            IMethodSymbol method => $"{declaring.Name}.{method.Name}({string.Join(", ", method.Parameters.Select(p => p.Type.ToDisplayString(s_display)))})",
            IPropertySymbol { IsIndexer: true } => $"{declaring.Name}.this[]",
            _ => $"{declaring.Name}.{member.Name}",
        };

        private static string MethodSignature(IMethodSymbol method, string declaringName)
        {
            string returnType = (method.ReturnsByRef ? "ref " : method.ReturnsByRefReadonly ? "ref readonly " : string.Empty)
                + method.ReturnType.ToDisplayString(s_fullyQualified);
            string typeParameters = method.IsGenericMethod ? "<" + string.Join(", ", method.TypeParameters.Select(t => "@" + t.Name)) + ">" : string.Empty;
            return $"{returnType} {declaringName}.{Escape(method.Name)}{typeParameters}({ParameterList(method.Parameters)})";
        }

        private static string PropertySignature(IPropertySymbol property, string declaringName)
        {
            string type = (property.ReturnsByRef ? "ref " : property.ReturnsByRefReadonly ? "ref readonly " : string.Empty)
                + property.Type.ToDisplayString(s_fullyQualified);
            return property.IsIndexer
                ? $"{type} {declaringName}.this[{ParameterList(property.Parameters)}]"
                : $"{type} {declaringName}.{Escape(property.Name)}";
        }

        private static string Accessors(IPropertySymbol property)
        {
            var accessors = new List<string>();
            if (property.GetMethod is not null)
            {
                accessors.Add("get");
            }

            if (property.SetMethod is not null)
            {
                accessors.Add(property.SetMethod.IsInitOnly ? "init" : "set");
            }

            return string.Join(",", accessors);
        }
    }
}

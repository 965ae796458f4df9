using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using RpcGen.Generator.Helpers;
using RpcGen.Generator.Model;
using RpcGen.Shared;

namespace RpcGen.Generator;

public sealed partial class RpcGenerator
{
    /// <summary>Turns an annotated interface symbol into a <see cref="ServiceSpec"/> at once; symbols never leave here.</summary>
    internal static class Parser
    {
        private const string TimeoutAttribute = RpcShapes.TimeoutAttribute;
        private const string LoadBalanceAttribute = RpcShapes.LoadBalanceAttribute;
        private const string HashKeyAttribute = RpcShapes.HashKeyAttribute;
        private const string LoadBalanceStrategyType = "global::RpcGen.LoadBalanceStrategy";

        private static readonly SymbolDisplayFormat s_fullyQualified = SymbolDisplayFormat.FullyQualifiedFormat
            .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

        private static readonly SymbolDisplayFormat s_display = SymbolDisplayFormat.CSharpErrorMessageFormat
            .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

        /// <summary>
        /// Returns null for interfaces nothing can be generated for (generic, inaccessible, nested in a generic type, with
        /// static abstract members); the analyzers report those.
        /// </summary>
        public static ServiceSpec? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            if (context.TargetSymbol is not INamedTypeSymbol type || type.TypeKind != TypeKind.Interface)
            {
                return null;
            }

            if (type.IsGenericType || !IsReachable(type))
            {
                return null;
            }

            foreach (INamedTypeSymbol candidate in new[] { type }.Concat(type.AllInterfaces))
            {
                foreach (ISymbol member in candidate.GetMembers())
                {
                    if (member.IsStatic && member.IsAbstract)
                    {
                        return null; // cannot be a type argument (CS8920), so no proxy can be registered
                    }
                }
            }

            cancellationToken.ThrowIfCancellationRequested();
            string wireName = RpcShapes.ServiceWireName(type, context.Attributes[0]);
            int interfaceTimeout = TimeoutOf(type);
            (string? interfaceBalance, string? interfaceBalancer) = LoadBalanceOf(type);

            var methods = new List<MethodSpec>();
            var unsupported = new List<UnsupportedMemberSpec>();
            var wireNames = new Dictionary<string, string>(StringComparer.Ordinal);

            foreach (INamedTypeSymbol declaring in new[] { type }.Concat(type.AllInterfaces))
            {
                bool inherited = !SymbolEqualityComparer.Default.Equals(declaring, type);
                string declaringName = declaring.ToDisplayString(s_fullyQualified);
                if (RpcShapes.IsDisposableInterface(declaring))
                {
                    // Disposing a proxy is local (RPCGEN020): it must never dispose the server's instance remotely.
                    foreach (IMethodSymbol dispose in declaring.GetMembers().OfType<IMethodSymbol>().Where(m => m.IsAbstract && !m.IsStatic))
                    {
                        unsupported.Add(new UnsupportedMemberSpec(MethodSignature(dispose, declaringName), MemberKind.LocalDispose, string.Empty,
                            "disposing a proxy is local", declaring.Name + "." + dispose.Name));
                    }

                    continue;
                }

                foreach (ISymbol member in declaring.GetMembers())
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (member.IsStatic || !member.IsAbstract)
                    {
                        continue; // static members and default implementations need nothing from the proxy
                    }

                    switch (member)
                    {
                        case IMethodSymbol { MethodKind: MethodKind.Ordinary } method:
                        {
                            string? reason = Unsupported(method, out ReturnKind returnKind, out ITypeSymbol? result, out string? tokenName);
                            string methodWireName = RpcShapes.MethodWireName(method);
                            if (reason is null && wireNames.TryGetValue(methodWireName, out string? clash))
                            {
                                reason = $"its wire name '{methodWireName}' is already used by {clash}; give one of them [RpcMethod(\"...\")]";
                            }

                            if (reason is not null)
                            {
                                unsupported.Add(new UnsupportedMemberSpec(MethodSignature(method, declaringName), MemberKind.Method, string.Empty, reason, MemberName(declaring, method)));
                                continue;
                            }

                            wireNames.Add(methodWireName, method.Name + "(" + string.Join(", ", method.Parameters.Select(p => p.Type.ToDisplayString(s_display))) + ")");
                            int timeout = TimeoutOf(method);
                            (string? balance, string? balancer) = LoadBalanceOf(method);
                            if (balance is null && balancer is null)
                            {
                                (balance, balancer) = (interfaceBalance, interfaceBalancer);
                            }

                            IParameterSymbol[] travelling = method.Parameters.Where(p => !IsCancellationToken(p.Type)).ToArray();
                            methods.Add(new MethodSpec(
                                methods.Count,
                                method.Name,
                                methodWireName,
                                declaringName,
                                inherited,
                                returnKind,
                                result is null ? null : Ref(result),
                                travelling
                                    .Select(p => new ParameterSpec(p.Name, Ref(p.Type), DefaultValue(p)))
                                    .ToEquatableArray(),
                                tokenName,
                                timeout > 0 ? timeout : interfaceTimeout,
                                balance,
                                balancer,
                                Enumerable.Range(0, travelling.Length)
                                    .Where(i => travelling[i].GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == HashKeyAttribute))
                                    .ToEquatableArray(),
                                PolicyOf(method, type)));
                            break;
                        }

                        case IMethodSymbol:
                            break; // accessors: handled with their property or event

                        case IPropertySymbol property:
                            unsupported.Add(new UnsupportedMemberSpec(
                                PropertySignature(property, declaringName),
                                MemberKind.Property,
                                Accessors(property),
                                property.IsIndexer ? "indexers cannot be called remotely" : "properties cannot be called remotely; use a method that returns a Task",
                                MemberName(declaring, property)));
                            break;

                        case IEventSymbol @event:
                            unsupported.Add(new UnsupportedMemberSpec(
                                $"event {@event.Type.ToDisplayString(s_fullyQualified)} {declaringName}.{Escape(@event.Name)}",
                                MemberKind.Event,
                                "add,remove",
                                "events cannot be raised across RPC",
                                MemberName(declaring, @event)));
                            break;
                    }
                }
            }

            string? ns = type.ContainingNamespace is { IsGlobalNamespace: false } containing
                ? containing.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat.WithGlobalNamespaceStyle(SymbolDisplayGlobalNamespaceStyle.Omitted))
                : null;
            var nesting = new List<string>();
            for (INamedTypeSymbol? t = type; t is not null; t = t.ContainingType)
            {
                nesting.Insert(0, t.Name);
            }

            return new ServiceSpec(
                ns,
                type.ToDisplayString(s_fullyQualified),
                type.ToDisplayString(s_display),
                string.Join("_", nesting),
                (ns is null ? string.Empty : ns + ".") + string.Join(".", nesting),
                wireName,
                JsonContextOf(context.Attributes[0]),
                methods.ToEquatableArray(),
                unsupported.ToEquatableArray());
        }

        private static bool IsReachable(INamedTypeSymbol type)
        {
            for (INamedTypeSymbol? t = type; t is not null; t = t.ContainingType)
            {
                if (t.DeclaredAccessibility is Accessibility.Private or Accessibility.Protected or Accessibility.ProtectedAndInternal)
                {
                    return false;
                }

                if (!ReferenceEquals(t, type) && t.IsGenericType)
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>Null when the method can be generated; otherwise why not, phrased to follow "it is skipped because".</summary>
        private static string? Unsupported(IMethodSymbol method, out ReturnKind kind, out ITypeSymbol? result, out string? tokenName)
        {
            kind = default;
            result = null;
            tokenName = null;
            if (method.IsGenericMethod)
            {
                return "generic methods cannot be called remotely";
            }

            if (method.ReturnsByRef || method.ReturnsByRefReadonly)
            {
                return "ref returns cannot be called remotely";
            }

            int taskKind = RpcShapes.TaskKind(method.ReturnType, out result);
            if (taskKind < 0)
            {
                return "its return type must be Task, Task<T>, ValueTask or ValueTask<T> (streaming is not supported yet)";
            }

            kind = (ReturnKind)taskKind;

            if (result is not null && !CanTravel(result))
            {
                return $"its result type {result.ToDisplayString(s_display)} cannot be serialized";
            }

            if (method.Parameters.Count(p => IsCancellationToken(p.Type)) > 1)
            {
                return "it takes more than one CancellationToken";
            }

            for (int i = 0; i < method.Parameters.Length; i++)
            {
                IParameterSymbol parameter = method.Parameters[i];
                if (parameter.RefKind != RefKind.None)
                {
                    return $"parameter '{parameter.Name}' is passed by reference (ref, out or in)";
                }

                if (parameter.IsParams)
                {
                    return $"parameter '{parameter.Name}' is a params parameter";
                }

                if (IsCancellationToken(parameter.Type))
                {
                    if (i != method.Parameters.Length - 1)
                    {
                        return "its CancellationToken must be the last parameter";
                    }

                    tokenName = parameter.Name;
                    continue;
                }

                if (!CanTravel(parameter.Type))
                {
                    return $"parameter '{parameter.Name}' of type {parameter.Type.ToDisplayString(s_display)} cannot be serialized";
                }
            }

            return null;
        }

        private static bool CanTravel(ITypeSymbol type) => RpcShapes.CanBeTypeArgument(type);

        private static bool IsCancellationToken(ITypeSymbol type) => RpcShapes.IsCancellationToken(type);

        private static TypeRef Ref(ITypeSymbol type) => new(type.ToDisplayString(s_fullyQualified), type.ToDisplayString(s_display));

        /// <summary>The effective resilience attributes of <paramref name="method"/>: its own, else its service's.</summary>
        private static PolicySpec PolicyOf(IMethodSymbol method, INamedTypeSymbol service)
        {
            bool Has(string attribute, bool interfaceToo) =>
                HasAttribute(method, attribute) || (interfaceToo && HasAttribute(service, attribute));

            string? Policy(string attribute, string runtimeType, bool perMethodFlag = false)
            {
                if (FindAttribute(method, attribute) is { } own)
                {
                    return PolicyCreation(own, runtimeType, perMethodFlag ? "PerMethod = true" : null);
                }

                return FindAttribute(service, attribute) is { } shared ? PolicyCreation(shared, runtimeType, null) : null;
            }

            var spec = new PolicySpec(
                Has(RpcShapes.IdempotentAttribute, interfaceToo: true),
                Has(RpcShapes.DeduplicateAttribute, interfaceToo: true),
                Has(RpcShapes.BroadcastAttribute, interfaceToo: false),
                Policy(RpcShapes.RetryAttribute, "global::RpcGen.Resilience.RpcRetryPolicy"),
                Policy(RpcShapes.HedgingAttribute, "global::RpcGen.Resilience.RpcHedgingPolicy"),
                Policy(RpcShapes.CircuitBreakerAttribute, "global::RpcGen.Resilience.RpcCircuitBreakerPolicy", perMethodFlag: true));
            return spec == PolicySpec.None ? PolicySpec.None : spec;
        }

        private static bool HasAttribute(ISymbol symbol, string attribute) => FindAttribute(symbol, attribute) is not null;

        private static AttributeData? FindAttribute(ISymbol symbol, string attribute)
        {
            foreach (AttributeData data in symbol.GetAttributes())
            {
                if (data.AttributeClass?.ToDisplayString() == attribute)
                {
                    return data;
                }
            }

            return null;
        }

        /// <summary>
        /// <c>new global::RpcGen.Resilience.RpcRetryPolicy { MaxAttempts = 3, ... }</c> from the attribute's named arguments, in
        /// source order; arguments that cannot be written as constants are left to the runtime's defaults.
        /// </summary>
        private static string PolicyCreation(AttributeData attribute, string runtimeType, string? extra)
        {
            var assignments = new List<string>();
            foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
            {
                if (Constant(argument.Value) is string value)
                {
                    assignments.Add($"{argument.Key} = {value}");
                }
            }

            if (extra is not null)
            {
                assignments.Add(extra);
            }

            return assignments.Count == 0 ? $"new {runtimeType}()" : $"new {runtimeType} {{ {string.Join(", ", assignments)} }}";
        }

        /// <summary>An attribute argument as a C# expression with global:: names and invariant numbers, or null.</summary>
        private static string? Constant(TypedConstant constant)
        {
            if (constant.IsNull)
            {
                return "null";
            }

            switch (constant.Kind)
            {
                case TypedConstantKind.Array:
                    string elementType = constant.Type is IArrayTypeSymbol array ? array.ElementType.ToDisplayString(s_fullyQualified) : "object";
                    var elements = new List<string>();
                    foreach (TypedConstant element in constant.Values)
                    {
                        if (Constant(element) is not string value)
                        {
                            return null;
                        }

                        elements.Add(value);
                    }

                    return elements.Count == 0
                        ? $"global::System.Array.Empty<{elementType}>()"
                        : $"new {elementType}[] {{ {string.Join(", ", elements)} }}";
                case TypedConstantKind.Enum:
                    return $"({constant.Type!.ToDisplayString(s_fullyQualified)})({Convert.ToString(constant.Value, CultureInfo.InvariantCulture)})";
                case TypedConstantKind.Primitive:
                    return constant.Value switch
                    {
                        bool b => b ? "true" : "false",
                        int i => i.ToString(CultureInfo.InvariantCulture),
                        double d when double.IsNaN(d) => "global::System.Double.NaN",
                        double d when double.IsPositiveInfinity(d) => "global::System.Double.PositiveInfinity",
                        double d when double.IsNegativeInfinity(d) => "global::System.Double.NegativeInfinity",
                        double d => d.ToString("R", CultureInfo.InvariantCulture) + "d",
                        _ => null,
                    };
                default:
                    return null;
            }
        }

        private static int TimeoutOf(ISymbol symbol)
        {
            foreach (AttributeData attribute in symbol.GetAttributes())
            {
                if (attribute.AttributeClass?.ToDisplayString() == TimeoutAttribute &&
                    attribute.ConstructorArguments.Length == 1 &&
                    attribute.ConstructorArguments[0].Value is int milliseconds)
                {
                    return milliseconds > 0 ? milliseconds : 0;
                }
            }

            return 0;
        }

        /// <summary>
        /// The strategy (enum value) or the user's balancer type (global:: name) from <c>[LoadBalance]</c>. A balancer type
        /// that is not a concrete <c>ILoadBalancer</c> with a public parameterless constructor is ignored here so the
        /// build does not break; the analyzers report it.
        /// </summary>
        private static (string? Strategy, string? BalancerType) LoadBalanceOf(ISymbol symbol)
        {
            foreach (AttributeData attribute in symbol.GetAttributes())
            {
                if (attribute.AttributeClass?.ToDisplayString() != LoadBalanceAttribute || attribute.ConstructorArguments.Length != 1)
                {
                    continue;
                }

                TypedConstant argument = attribute.ConstructorArguments[0];
                if (argument.Kind == TypedConstantKind.Enum && argument.Value is int strategy)
                {
                    // The member's name reads better in the generated descriptor than its number.
                    string? name = argument.Type?.GetMembers().OfType<IFieldSymbol>()
                        .FirstOrDefault(f => f.HasConstantValue && Equals(f.ConstantValue, strategy))?.Name;
                    return (name is null ? $"({LoadBalanceStrategyType}){strategy.ToString(CultureInfo.InvariantCulture)}" : $"{LoadBalanceStrategyType}.{name}", null);
                }

                if (argument.Value is INamedTypeSymbol balancer && RpcShapes.IsUsableBalancer(balancer))
                {
                    return (null, balancer.ToDisplayString(s_fullyQualified));
                }
            }

            return (null, null);
        }

        /// <summary>
        /// The global:: name of the source-generated context named by <c>[RpcService(JsonContext = ...)]</c>, when it is a
        /// concrete JsonSerializerContext (anything else is ignored here and reported by the analyzers).
        /// </summary>
        private static string? JsonContextOf(AttributeData attribute)
        {
            foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
            {
                if (argument.Key == "JsonContext" && argument.Value.Value is INamedTypeSymbol context && RpcShapes.IsJsonContext(context))
                {
                    return context.ToDisplayString(s_fullyQualified);
                }
            }

            return null;
        }

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

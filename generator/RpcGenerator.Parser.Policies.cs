using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using RpcGen.Generator.Helpers;
using RpcGen.Generator.Model;
using RpcGen.Shared;

namespace RpcGen.Generator;

public sealed partial class RpcGenerator
{
    /// <summary>The attributes that configure a method's call: timeout, balancing, resilience, JSON context; read as data.</summary>
    internal static partial class Parser
    {
        /// <summary>The effective resilience attributes of <paramref name="method"/>: its own, else its service's.</summary>
        private static PolicySpec PolicyOf(IMethodSymbol method, INamedTypeSymbol service)
        {
            bool Has(string attribute, bool interfaceToo) =>
                RpcShapes.HasAttribute(method, attribute) || (interfaceToo && RpcShapes.HasAttribute(service, attribute));

            PolicyAttributeSpec? Policy(string attribute, bool perMethodFlag = false)
            {
                if (RpcShapes.GetAttribute(method, attribute) is { } own)
                {
                    return new PolicyAttributeSpec(Arguments(own), perMethodFlag);
                }

                return RpcShapes.GetAttribute(service, attribute) is { } shared ? new PolicyAttributeSpec(Arguments(shared), false) : null;
            }

            bool noSideEffects = Has(RpcShapes.NoSideEffectsAttribute, interfaceToo: true);
            var spec = new PolicySpec(
                noSideEffects || Has(RpcShapes.IdempotentAttribute, interfaceToo: true), // a method that changes nothing may run twice
                Has(RpcShapes.DeduplicateAttribute, interfaceToo: true),
                Has(RpcShapes.BroadcastAttribute, interfaceToo: false),
                Policy(RpcShapes.RetryAttribute),
                Policy(RpcShapes.HedgingAttribute),
                Policy(RpcShapes.CircuitBreakerAttribute, perMethodFlag: true),
                noSideEffects);
            return spec == PolicySpec.None ? PolicySpec.None : spec;
        }

        /// <summary>The attribute's named arguments in source order; those that are not constants keep the runtime's defaults.</summary>
        private static ImmutableEquatableArray<NamedValueSpec> Arguments(AttributeData attribute) =>
            attribute.NamedArguments
                .Select(argument => Constant(argument.Value) is { } value ? new NamedValueSpec(argument.Key, value) : null)
                .Where(argument => argument is not null)
                .Select(argument => argument!)
                .ToEquatableArray();

        /// <summary>An attribute argument as data (kind, invariant text, type), or null when it is not a constant.</summary>
        private static ConstantSpec? Constant(TypedConstant constant)
        {
            if (constant.IsNull)
            {
                return new ConstantSpec(ConstantKind.Null, string.Empty, null, null);
            }

            switch (constant.Kind)
            {
                case TypedConstantKind.Array:
                    var elements = new List<ConstantSpec>();
                    foreach (TypedConstant element in constant.Values)
                    {
                        if (Constant(element) is not { } value)
                        {
                            return null;
                        }

                        elements.Add(value);
                    }

                    string elementType = constant.Type is IArrayTypeSymbol array ? array.ElementType.ToDisplayString(s_fullyQualified) : "object";
                    return new ConstantSpec(ConstantKind.Array, string.Empty, elementType, elements.ToEquatableArray());
                case TypedConstantKind.Enum:
                    return new ConstantSpec(ConstantKind.Enum, Convert.ToString(constant.Value, CultureInfo.InvariantCulture)!, constant.Type!.ToDisplayString(s_fullyQualified), null);
                case TypedConstantKind.Primitive:
                    return constant.Value switch
                    {
                        bool b => new ConstantSpec(ConstantKind.Bool, b ? "true" : "false", null, null),
                        int i => new ConstantSpec(ConstantKind.Int, i.ToString(CultureInfo.InvariantCulture), null, null),
                        double d => new ConstantSpec(ConstantKind.Double, d.ToString("R", CultureInfo.InvariantCulture), null, null),
                        _ => null,
                    };
                default:
                    return null;
            }
        }

        /// <summary>
        /// The method's <c>[RpcAllowAnonymous]</c> wins; else every <c>[RpcAuthorize]</c> of the interface and the method
        /// applies (an interface's <c>[RpcAllowAnonymous]</c> without any <c>[RpcAuthorize]</c> on the method lets anyone in).
        /// </summary>
        private static AuthorizationSpec? AuthorizationOf(IMethodSymbol method, INamedTypeSymbol service)
        {
            if (RpcShapes.HasAttribute(method, RpcShapes.AllowAnonymousAttribute))
            {
                return new AuthorizationSpec(true, ImmutableEquatableArray<string>.Empty);
            }

            var sets = new List<string>();
            bool methodAuthorizes = false;
            foreach (ISymbol symbol in new ISymbol[] { service, method })
            {
                foreach (AttributeData attribute in symbol.GetAttributes())
                {
                    if (RpcShapes.IsNamed(attribute.AttributeClass, RpcShapes.AuthorizeAttribute))
                    {
                        sets.Add(string.Join(",", RpcShapes.Roles(attribute)));
                        methodAuthorizes |= ReferenceEquals(symbol, method);
                    }
                }
            }

            if (!methodAuthorizes && RpcShapes.HasAttribute(service, RpcShapes.AllowAnonymousAttribute))
            {
                return new AuthorizationSpec(true, ImmutableEquatableArray<string>.Empty);
            }

            return sets.Count == 0 ? null : new AuthorizationSpec(false, sets.ToEquatableArray());
        }

        private static int TimeoutOf(ISymbol symbol) =>
            RpcShapes.GetAttribute(symbol, RpcShapes.TimeoutAttribute) is { ConstructorArguments.Length: 1 } attribute &&
            attribute.ConstructorArguments[0].Value is int milliseconds && milliseconds > 0
                ? milliseconds
                : 0;

        /// <summary>
        /// The strategy or the user's balancer type (global:: name) from <c>[LoadBalance]</c>. A balancer type that is not
        /// a concrete <c>ILoadBalancer</c> with a public parameterless constructor is ignored here so the build does not
        /// break; the analyzers report it.
        /// </summary>
        private static LoadBalanceSpec? LoadBalanceOf(ISymbol symbol)
        {
            if (RpcShapes.GetAttribute(symbol, RpcShapes.LoadBalanceAttribute) is not { ConstructorArguments.Length: 1 } attribute)
            {
                return null;
            }

            TypedConstant argument = attribute.ConstructorArguments[0];
            if (argument.Kind == TypedConstantKind.Enum && argument.Value is int strategy)
            {
                // The member's name reads better in the generated descriptor than its number.
                string? name = argument.Type?.GetMembers().OfType<IFieldSymbol>()
                    .FirstOrDefault(f => f.HasConstantValue && Equals(f.ConstantValue, strategy))?.Name;
                return new LoadBalanceSpec(strategy, name, null);
            }

            return argument.Value is INamedTypeSymbol balancer && RpcShapes.IsUsableBalancer(balancer)
                ? new LoadBalanceSpec(0, null, balancer.ToDisplayString(s_fullyQualified))
                : null;
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
    }
}

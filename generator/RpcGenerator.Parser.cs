using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using RpcGen.Generator.Helpers;
using RpcGen.Generator.Model;
using RpcGen.Shared;

namespace RpcGen.Generator;

public sealed partial class RpcGenerator
{
    /// <summary>
    /// Turns an annotated interface symbol into a <see cref="ServiceSpec"/> at once; symbols never leave here. The shape
    /// rules are <see cref="ServiceShape"/>'s (shared with the analyzers); this file walks the service, the partials read
    /// policies (Parser.Policies) and write signatures (Parser.Signatures).
    /// </summary>
    internal static partial class Parser
    {
        private static readonly SymbolDisplayFormat s_fullyQualified = SymbolDisplayFormat.FullyQualifiedFormat
            .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

        private static readonly SymbolDisplayFormat s_display = SymbolDisplayFormat.CSharpErrorMessageFormat
            .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

        /// <summary>
        /// Returns null for interfaces nothing can be generated for (<see cref="ServiceShape.WhyNotGenerated"/>: generic,
        /// inaccessible, nested in a generic type, with static abstract members); the analyzers report those.
        /// </summary>
        public static ServiceSpec? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            if (context.TargetSymbol is not INamedTypeSymbol { TypeKind: TypeKind.Interface } type || ServiceShape.WhyNotGenerated(type) is not null)
            {
                return null;
            }

            cancellationToken.ThrowIfCancellationRequested();
            int interfaceTimeout = TimeoutOf(type);
            LoadBalanceSpec? interfaceBalance = LoadBalanceOf(type);

            var methods = new List<MethodSpec>();
            var callable = new List<(MemberShape Shape, MethodSpec Spec)>();
            var unsupported = new List<UnsupportedMemberSpec>();
            var names = new TypeNames();
            foreach (MemberShape shape in ServiceShape.Members(type))
            {
                cancellationToken.ThrowIfCancellationRequested();
                string declaringName = names.Of(shape.Declaring).FullyQualified;
                switch (shape.Kind)
                {
                    case MemberShapeKind.LocalDispose:
                        // Disposing a proxy is local (RPCGEN020): it must never dispose the server's instance remotely.
                        unsupported.Add(new UnsupportedMemberSpec(MethodSignature((IMethodSymbol)shape.Member, declaringName), MemberKind.LocalDispose, string.Empty,
                            "disposing a proxy is local", shape.Declaring.Name + "." + shape.Member.Name));
                        break;
                    case MemberShapeKind.Property or MemberShapeKind.Indexer:
                        var property = (IPropertySymbol)shape.Member;
                        unsupported.Add(new UnsupportedMemberSpec(
                            PropertySignature(property, declaringName),
                            MemberKind.Property,
                            Accessors(property),
                            property.IsIndexer ? "indexers cannot be called remotely" : "properties cannot be called remotely; use a method that returns a Task",
                            MemberName(shape.Declaring, property)));
                        break;
                    case MemberShapeKind.Event:
                        var @event = (IEventSymbol)shape.Member;
                        unsupported.Add(new UnsupportedMemberSpec(
                            $"event {@event.Type.ToDisplayString(s_fullyQualified)} {declaringName}.{Escape(@event.Name)}",
                            MemberKind.Event,
                            "add,remove",
                            "events cannot be raised across RPC",
                            MemberName(shape.Declaring, @event)));
                        break;
                    case MemberShapeKind.Method when !shape.IsCallable:
                        var broken = (IMethodSymbol)shape.Member;
                        unsupported.Add(new UnsupportedMemberSpec(MethodSignature(broken, declaringName), MemberKind.Method, string.Empty,
                            shape.Problems[0].Reason, MemberName(shape.Declaring, broken)));
                        break;
                    case MemberShapeKind.Method:
                        MethodSpec method = Method(shape, methods.Count, declaringName, type, interfaceTimeout, interfaceBalance, names);
                        methods.Add(method);
                        callable.Add((shape, method));
                        break;
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

            string wireName = RpcShapes.ServiceWireName(type, context.Attributes[0]);
            cancellationToken.ThrowIfCancellationRequested();
            return new ServiceSpec(
                ns,
                type.ToDisplayString(s_fullyQualified),
                type.ToDisplayString(s_display),
                string.Join("_", nesting),
                (ns is null ? string.Empty : ns + ".") + string.Join(".", nesting),
                wireName,
                JsonContextOf(context.Attributes[0]),
                methods.ToEquatableArray(),
                unsupported.ToEquatableArray(),
                OpenApiBuilder.Build(type, context.Attributes[0], wireName, callable));
        }

        /// <summary>A method that passed every shape rule: its parameters, result, timeout, balancing and policies.</summary>
        private static MethodSpec Method(MemberShape shape, int index, string declaringName, INamedTypeSymbol service, int interfaceTimeout, LoadBalanceSpec? interfaceBalance, TypeNames names)
        {
            var method = (IMethodSymbol)shape.Member;
            int timeout = TimeoutOf(method);
            LoadBalanceSpec? balance = LoadBalanceOf(method) ?? interfaceBalance;
            IParameterSymbol[] travelling = method.Parameters
                .Where(p => !RpcShapes.IsCancellationToken(p.Type) && !SymbolEqualityComparer.Default.Equals(p, shape.StreamParameter))
                .ToArray();
            return new MethodSpec(
                index,
                method.Name,
                shape.WireName,
                declaringName,
                shape.Inherited,
                (ReturnKind)shape.TaskKind,
                shape.Result is null ? null : names.Of(shape.Result),
                travelling.Select(p => new ParameterSpec(p.Name, names.Of(p.Type), DefaultValue(p))).ToEquatableArray(),
                shape.CancellationToken?.Name,
                timeout > 0 ? timeout : interfaceTimeout,
                balance,
                Enumerable.Range(0, travelling.Length)
                    .Where(i => RpcShapes.HasAttribute(travelling[i], RpcShapes.HashKeyAttribute))
                    .ToEquatableArray(),
                PolicyOf(method, service),
                AuthorizationOf(method, service),
                StreamOf(shape, service, names),
                CompressionOf(method, service));
        }

        /// <summary>
        /// The method's <c>[Compress]</c> (its own, else its interface's) as named values; the constructor's algorithm
        /// becomes <c>Algorithm</c>. Null when neither has one.
        /// </summary>
        private static PolicyAttributeSpec? CompressionOf(IMethodSymbol method, INamedTypeSymbol service)
        {
            AttributeData? attribute = RpcShapes.GetAttribute(method, RpcShapes.CompressAttribute)
                ?? RpcShapes.GetAttribute(service, RpcShapes.CompressAttribute);
            if (attribute is null)
            {
                return null;
            }

            var arguments = new List<NamedValueSpec>();
            if (attribute.ConstructorArguments.Length == 1 && Constant(attribute.ConstructorArguments[0]) is { } algorithm)
            {
                arguments.Add(new NamedValueSpec("Algorithm", algorithm));
            }

            arguments.AddRange(Arguments(attribute));
            return new PolicyAttributeSpec(arguments.ToEquatableArray(), false);
        }

        /// <summary>How the method streams, or null for a unary method.</summary>
        private static StreamSpec? StreamOf(MemberShape shape, INamedTypeSymbol service, TypeNames names)
        {
            if (!shape.IsStreaming)
            {
                return null;
            }

            var method = (IMethodSymbol)shape.Member;
            StreamKind kind = shape.TaskKind == 4 ? (shape.StreamParameter is null ? StreamKind.Server : StreamKind.Duplex) : StreamKind.Client;
            int position = shape.StreamParameter is null ? -1 : method.Parameters.IndexOf(shape.StreamParameter);
            AttributeData? settings = RpcShapes.GetAttribute(method, RpcShapes.StreamingAttribute)
                ?? RpcShapes.GetAttribute(service, RpcShapes.StreamingAttribute);
            int resumeFrom = -1;
            if (shape.ResumeFrom is { } from)
            {
                resumeFrom = method.Parameters
                    .Where(p => !RpcShapes.IsCancellationToken(p.Type) && !SymbolEqualityComparer.Default.Equals(p, shape.StreamParameter))
                    .ToList()
                    .IndexOf(from);
            }

            return new StreamSpec(
                kind,
                shape.StreamParameter?.Name,
                position,
                shape.StreamItem is null ? null : names.Of(shape.StreamItem),
                settings is null ? null : new PolicyAttributeSpec(Arguments(settings), false),
                resumeFrom,
                resumeFrom < 0 ? null : shape.PositionProperty);
        }

        /// <summary>
        /// The two spellings of each type, formatted once per service: formatting is most of the parser's own cost, and a
        /// service's methods repeat the same few types (the parser runs for every service on every edit in an IDE).
        /// </summary>
        private sealed class TypeNames
        {
            private readonly Dictionary<ITypeSymbol, TypeRef> _names = new(SymbolEqualityComparer.IncludeNullability);

            public TypeRef Of(ITypeSymbol type)
            {
                if (!_names.TryGetValue(type, out TypeRef? name))
                {
                    name = new TypeRef(
                        type.ToDisplayString(s_fullyQualified), type.ToDisplayString(s_display), type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat));
                    _names.Add(type, name);
                }

                return name;
            }
        }
    }
}

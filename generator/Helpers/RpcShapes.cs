using Microsoft.CodeAnalysis;

namespace RpcGen.Shared;

/// <summary>
/// The facts about RpcGen's attributes and interface shapes that the generator and the analyzers must agree on.
/// One source file, compiled into both assemblies (neither references the runtime).
/// </summary>
internal static class RpcShapes
{
    public const string RpcServiceAttribute = "RpcGen.RpcServiceAttribute";
    public const string RpcMethodAttribute = "RpcGen.RpcMethodAttribute";
    public const string TimeoutAttribute = "RpcGen.TimeoutAttribute";
    public const string LoadBalanceAttribute = "RpcGen.LoadBalanceAttribute";
    public const string HashKeyAttribute = "RpcGen.HashKeyAttribute";
    public const string IdempotentAttribute = "RpcGen.IdempotentAttribute";
    public const string NoSideEffectsAttribute = "RpcGen.NoSideEffectsAttribute";
    public const string RetryAttribute = "RpcGen.RetryAttribute";
    public const string HedgingAttribute = "RpcGen.HedgingAttribute";
    public const string CircuitBreakerAttribute = "RpcGen.CircuitBreakerAttribute";
    public const string BroadcastAttribute = "RpcGen.BroadcastAttribute";
    public const string DeduplicateAttribute = "RpcGen.DeduplicateAttribute";
    public const string LoadBalancerInterface = "RpcGen.Balancing.ILoadBalancer";
    public const string AuthorizeAttribute = "RpcGen.RpcAuthorizeAttribute";
    public const string AllowAnonymousAttribute = "RpcGen.RpcAllowAnonymousAttribute";
    public const string StreamingAttribute = "RpcGen.StreamingAttribute";
    public const string CompressAttribute = "RpcGen.CompressAttribute";
    public const string ResumableAttribute = "RpcGen.ResumableAttribute";
    public const string ResumeFromAttribute = "RpcGen.ResumeFromAttribute";

    /// <summary>The roles of an <c>[RpcAuthorize(Roles = "a, b")]</c>: split on commas, trimmed, empty ones dropped.</summary>
    public static string[] Roles(AttributeData authorize)
    {
        foreach (System.Collections.Generic.KeyValuePair<string, TypedConstant> argument in authorize.NamedArguments)
        {
            if (argument.Key == "Roles" && argument.Value.Value is string roles)
            {
                return System.Linq.Enumerable.ToArray(System.Linq.Enumerable.Where(
                    System.Linq.Enumerable.Select(roles.Split(','), r => r.Trim()), r => r.Length > 0));
            }
        }

        return System.Array.Empty<string>();
    }

    /// <summary>The value of LoadBalanceStrategy.ConsistentHash.</summary>
    public const int ConsistentHashStrategy = 7;

    /// <summary>The shape of a return type: 0 Task, 1 Task&lt;T&gt;, 2 ValueTask, 3 ValueTask&lt;T&gt;; -1 for anything else.</summary>
    public static int TaskKind(ITypeSymbol type, out ITypeSymbol? result)
    {
        result = null;
        if (type is not INamedTypeSymbol named)
        {
            return -1;
        }

        INamedTypeSymbol definition = named.ConstructedFrom;
        if (definition.Arity > 1)
        {
            return -1;
        }

        if (IsNamed(definition, "System.Threading.Tasks.Task"))
        {
            result = definition.Arity == 1 ? named.TypeArguments[0] : null;
            return definition.Arity == 1 ? 1 : 0;
        }

        if (IsNamed(definition, "System.Threading.Tasks.ValueTask"))
        {
            result = definition.Arity == 1 ? named.TypeArguments[0] : null;
            return definition.Arity == 1 ? 3 : 2;
        }

        if (StreamItem(type) is { } item)
        {
            result = item;
            return 4;
        }

        return -1;
    }

    /// <summary>T of <c>System.Collections.Generic.IAsyncEnumerable&lt;T&gt;</c> (a stream), or null for any other type.</summary>
    public static ITypeSymbol? StreamItem(ITypeSymbol type) =>
        type is INamedTypeSymbol { Arity: 1 } named && IsNamed(named.ConstructedFrom, "System.Collections.Generic.IAsyncEnumerable", arity: 1)
            ? named.TypeArguments[0]
            : null;

    /// <summary>
    /// <c>System.IDisposable</c> or <c>System.IAsyncDisposable</c>: an RPC interface that inherits one gets a proxy that
    /// disposes locally (does nothing), never a remote call that would dispose the server's instance.
    /// </summary>
    public static bool IsDisposableInterface(INamedTypeSymbol type) =>
        IsNamed(type, "System.IDisposable", arity: 0) || IsNamed(type, "System.IAsyncDisposable", arity: 0);

    public static bool IsCancellationToken(ITypeSymbol type) => IsNamed(type, "System.Threading.CancellationToken", arity: 0);

    /// <summary>
    /// True when <paramref name="symbol"/> is the named type <paramref name="fullName"/> (namespace and containing types,
    /// dot-separated, no type arguments; of <paramref name="arity"/> type parameters unless -1), compared name by name
    /// up the containing symbols: what <c>ToDisplayString() == fullName</c> says, without formatting a string. The
    /// generator runs this for every attribute and parameter of every service on every edit.
    /// </summary>
    public static bool IsNamed(ISymbol? symbol, string fullName, int arity = -1)
    {
        if (symbol is not INamedTypeSymbol type || (arity >= 0 && type.Arity != arity))
        {
            return false;
        }

        int end = fullName.Length;
        ISymbol current = type;
        while (true)
        {
            string name = current.Name;
            int start = end - name.Length;
            if (start < 0 || string.CompareOrdinal(fullName, start, name, 0, name.Length) != 0)
            {
                return false;
            }

            ISymbol? parent = current.ContainingSymbol;
            if (parent is null or INamespaceSymbol { IsGlobalNamespace: true })
            {
                return start == 0;
            }

            if (start == 0 || fullName[start - 1] != '.' || parent is not (INamespaceSymbol or INamedTypeSymbol))
            {
                return false;
            }

            end = start - 1;
            current = parent;
        }
    }

    /// <summary>Types that cannot even be a generic argument of a JSON contract.</summary>
    public static bool CanBeTypeArgument(ITypeSymbol type) =>
        type.TypeKind is not (TypeKind.Pointer or TypeKind.FunctionPointer or TypeKind.TypeParameter or TypeKind.Error)
        && !type.IsRefLikeType
        && type.SpecialType != SpecialType.System_Void;

    public static bool HasAttribute(ISymbol symbol, string metadataName)
    {
        foreach (AttributeData attribute in symbol.GetAttributes())
        {
            if (IsNamed(attribute.AttributeClass, metadataName))
            {
                return true;
            }
        }

        return false;
    }

    public static AttributeData? GetAttribute(ISymbol symbol, string metadataName)
    {
        foreach (AttributeData attribute in symbol.GetAttributes())
        {
            if (IsNamed(attribute.AttributeClass, metadataName))
            {
                return attribute;
            }
        }

        return null;
    }

    /// <summary>The service's wire name: the attribute's, or the interface name without a leading I.</summary>
    public static string ServiceWireName(INamedTypeSymbol type, AttributeData? attribute)
    {
        if (attribute is { ConstructorArguments.Length: 1 } && attribute.ConstructorArguments[0].Value is string name && name.Length > 0)
        {
            return name;
        }

        string typeName = type.Name;
        return typeName.Length > 1 && typeName[0] == 'I' && char.IsUpper(typeName[1]) ? typeName.Substring(1) : typeName;
    }

    /// <summary>The method's wire name: [RpcMethod]'s, or the name without an Async suffix.</summary>
    public static string MethodWireName(IMethodSymbol method)
    {
        AttributeData? attribute = GetAttribute(method, RpcMethodAttribute);
        if (attribute is { ConstructorArguments.Length: 1 } && attribute.ConstructorArguments[0].Value is string name && name.Length > 0)
        {
            return name;
        }

        string methodName = method.Name;
        return methodName.Length > 5 && methodName.EndsWith("Async", System.StringComparison.Ordinal)
            ? methodName.Substring(0, methodName.Length - 5)
            : methodName;
    }

    /// <summary>True when <paramref name="type"/> is a concrete class deriving from JsonSerializerContext.</summary>
    public static bool IsJsonContext(INamedTypeSymbol type)
    {
        if (type.IsAbstract || type.IsGenericType)
        {
            return false;
        }

        for (INamedTypeSymbol? t = type.BaseType; t is not null; t = t.BaseType)
        {
            if (IsNamed(t, "System.Text.Json.Serialization.JsonSerializerContext", arity: 0))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when <paramref name="type"/> is a concrete class implementing ILoadBalancer with a usable parameterless constructor.</summary>
    public static bool IsUsableBalancer(INamedTypeSymbol type)
    {
        if (type.IsAbstract || type.TypeKind != TypeKind.Class || type.IsGenericType)
        {
            return false;
        }

        bool implements = false;
        foreach (INamedTypeSymbol implemented in type.AllInterfaces)
        {
            implements |= IsNamed(implemented, LoadBalancerInterface, arity: 0);
        }

        if (!implements)
        {
            return false;
        }

        foreach (IMethodSymbol constructor in type.InstanceConstructors)
        {
            if (constructor.Parameters.Length == 0 && constructor.DeclaredAccessibility is Accessibility.Public or Accessibility.Internal)
            {
                return true;
            }
        }

        return false;
    }
}

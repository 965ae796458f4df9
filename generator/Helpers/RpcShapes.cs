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
    public const string RetryAttribute = "RpcGen.RetryAttribute";
    public const string HedgingAttribute = "RpcGen.HedgingAttribute";
    public const string CircuitBreakerAttribute = "RpcGen.CircuitBreakerAttribute";
    public const string BroadcastAttribute = "RpcGen.BroadcastAttribute";
    public const string DeduplicateAttribute = "RpcGen.DeduplicateAttribute";
    public const string LoadBalancerInterface = "RpcGen.Balancing.ILoadBalancer";
    public const string AuthorizeAttribute = "RpcGen.RpcAuthorizeAttribute";
    public const string AllowAnonymousAttribute = "RpcGen.RpcAllowAnonymousAttribute";

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

        switch (named.ConstructedFrom.ToDisplayString())
        {
            case "System.Threading.Tasks.Task":
                return 0;
            case "System.Threading.Tasks.Task<TResult>":
                result = named.TypeArguments[0];
                return 1;
            case "System.Threading.Tasks.ValueTask":
                return 2;
            case "System.Threading.Tasks.ValueTask<TResult>":
                result = named.TypeArguments[0];
                return 3;
            default:
                return -1;
        }
    }

    /// <summary>
    /// <c>System.IDisposable</c> or <c>System.IAsyncDisposable</c>: an RPC interface that inherits one gets a proxy that
    /// disposes locally (does nothing), never a remote call that would dispose the server's instance.
    /// </summary>
    public static bool IsDisposableInterface(INamedTypeSymbol type) =>
        type.Name is "IDisposable" or "IAsyncDisposable" && type.ContainingNamespace?.ToDisplayString() == "System" && type.TypeArguments.Length == 0;

    public static bool IsCancellationToken(ITypeSymbol type) =>
        type.Name == "CancellationToken" && type.ContainingNamespace?.ToDisplayString() == "System.Threading";

    /// <summary>Types that cannot even be a generic argument of a JSON contract.</summary>
    public static bool CanBeTypeArgument(ITypeSymbol type) =>
        type.TypeKind is not (TypeKind.Pointer or TypeKind.FunctionPointer or TypeKind.TypeParameter or TypeKind.Error)
        && !type.IsRefLikeType
        && type.SpecialType != SpecialType.System_Void;

    public static bool HasAttribute(ISymbol symbol, string metadataName)
    {
        foreach (AttributeData attribute in symbol.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() == metadataName)
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
            if (attribute.AttributeClass?.ToDisplayString() == metadataName)
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
            if (t.ToDisplayString() == "System.Text.Json.Serialization.JsonSerializerContext")
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
            implements |= implemented.ToDisplayString() == LoadBalancerInterface;
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

using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace RpcGen.Shared;

/// <summary>Why a member of an <c>[RpcService]</c> interface cannot be called remotely.</summary>
internal enum ShapeProblemKind
{
    GenericMethod,
    RefReturn,
    ReturnType,
    RefParameter,
    ParamsParameter,
    ExtraCancellationToken,
    CancellationTokenNotLast,
    CannotSerialize,
    DuplicateWireName,

    /// <summary>A second <c>IAsyncEnumerable&lt;T&gt;</c> parameter: a call carries one stream each way.</summary>
    ExtraStreamParameter,
}

/// <summary>
/// One broken rule, as data: the generator turns it into the reason of a proxy member that throws
/// <c>NotSupportedException</c>, the analyzers into a diagnostic with its own wording and location.
/// </summary>
internal sealed class ShapeProblem
{
    public ShapeProblem(ShapeProblemKind kind, string reason, IParameterSymbol? parameter = null, ITypeSymbol? type = null, string? why = null, IMethodSymbol? other = null)
    {
        Kind = kind;
        Reason = reason;
        Parameter = parameter;
        Type = type;
        Why = why;
        Other = other;
    }

    public ShapeProblemKind Kind { get; }

    /// <summary>Short, to follow "it is skipped because" (the generated member's exception message).</summary>
    public string Reason { get; }

    /// <summary>The parameter at fault, or null when the method's return type or the method itself is.</summary>
    public IParameterSymbol? Parameter { get; }

    /// <summary>The type that cannot be serialized (<see cref="ShapeProblemKind.CannotSerialize"/>).</summary>
    public ITypeSymbol? Type { get; }

    /// <summary>What is wrong with <see cref="Type"/> ("it is a delegate: code cannot travel").</summary>
    public string? Why { get; }

    /// <summary>The method whose wire name this one repeats (<see cref="ShapeProblemKind.DuplicateWireName"/>).</summary>
    public IMethodSymbol? Other { get; }
}

/// <summary>What kind of member of the interface a <see cref="MemberShape"/> is.</summary>
internal enum MemberShapeKind
{
    Method,
    Property,
    Indexer,
    Event,

    /// <summary>IDisposable.Dispose / IAsyncDisposable.DisposeAsync: the proxy disposes locally, never remotely.</summary>
    LocalDispose,
}

/// <summary>One member a proxy must implement, with what the rules say about it.</summary>
internal sealed class MemberShape
{
    public MemberShape(ISymbol member, INamedTypeSymbol declaring, bool inherited, MemberShapeKind kind)
    {
        Member = member;
        Declaring = declaring;
        Inherited = inherited;
        Kind = kind;
    }

    public ISymbol Member { get; }

    public INamedTypeSymbol Declaring { get; }

    public bool Inherited { get; }

    public MemberShapeKind Kind { get; }

    /// <summary>Methods: the wire name (<c>[RpcMethod]</c>'s, or the name without Async).</summary>
    public string WireName { get; set; } = string.Empty;

    /// <summary>Methods: 0 Task, 1 Task&lt;T&gt;, 2 ValueTask, 3 ValueTask&lt;T&gt;, 4 IAsyncEnumerable&lt;T&gt;; -1 for anything else.</summary>
    public int TaskKind { get; set; } = -1;

    /// <summary>Methods: T of Task&lt;T&gt; / ValueTask&lt;T&gt;, or the item type of a returned IAsyncEnumerable&lt;T&gt;.</summary>
    public ITypeSymbol? Result { get; set; }

    /// <summary>Methods: the caller's stream, the one <c>IAsyncEnumerable&lt;T&gt;</c> parameter, when there is one.</summary>
    public IParameterSymbol? StreamParameter { get; set; }

    /// <summary>Methods: T of <see cref="StreamParameter"/>.</summary>
    public ITypeSymbol? StreamItem { get; set; }

    /// <summary>Methods: the method streams one way or both (it returns or takes an IAsyncEnumerable&lt;T&gt;).</summary>
    public bool IsStreaming => TaskKind == 4 || StreamParameter is not null;

    /// <summary>Methods: a valid <c>[Resumable]</c> server stream's <c>[ResumeFrom]</c> parameter; null otherwise.</summary>
    public IParameterSymbol? ResumeFrom { get; set; }

    /// <summary>Methods: a valid <c>[Resumable]</c> stream's item property that holds each item's position.</summary>
    public string? PositionProperty { get; set; }

    /// <summary>
    /// Methods: why <c>[Resumable]</c> / <c>[ResumeFrom]</c> cannot work here (RPCGEN025; the generator then makes a plain
    /// stream), or null.
    /// </summary>
    public string? ResumableProblem { get; set; }

    /// <summary>Methods: the CancellationToken parameter, when there is exactly one.</summary>
    public IParameterSymbol? CancellationToken { get; set; }

    /// <summary>Methods: every rule it breaks, in the order the generator reports the first; empty when it can be called.</summary>
    public List<ShapeProblem> Problems { get; } = new();

    public bool IsCallable => Kind == MemberShapeKind.Method && Problems.Count == 0;
}

/// <summary>
/// The interface-shape rules of RpcGen, once, for the generator and the analyzers (one source file compiled into both):
/// which interfaces can be generated at all, which members a proxy can send, and why not. Returns problems as data.
/// </summary>
internal static class ServiceShape
{
    /// <summary>Null when a proxy and dispatcher can be generated for <paramref name="type"/>; otherwise why not.</summary>
    public static string? WhyNotGenerated(INamedTypeSymbol type)
    {
        if (type.IsGenericType)
        {
            return "it is generic (a service has one wire contract: declare one interface per type argument)";
        }

        for (INamedTypeSymbol? t = type; t is not null; t = t.ContainingType)
        {
            if (t.DeclaredAccessibility is Accessibility.Private or Accessibility.Protected or Accessibility.ProtectedAndInternal)
            {
                return $"'{t.Name}' is {t.DeclaredAccessibility.ToString().ToLowerInvariant()}, so generated code cannot see it (make it internal or public)";
            }

            if (!SymbolEqualityComparer.Default.Equals(t, type) && t.IsGenericType)
            {
                return $"it is nested in the generic type '{t.ToDisplayString()}' (move it out)";
            }
        }

        foreach (INamedTypeSymbol candidate in new[] { type }.Concat(type.AllInterfaces))
        {
            foreach (ISymbol member in candidate.GetMembers())
            {
                if (member.IsStatic && member.IsAbstract)
                {
                    return $"it declares the static abstract member '{member.Name}', so it cannot be a type argument of CreateProxy or Map";
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Every abstract instance member of <paramref name="type"/> and the interfaces it inherits, in declaration order,
    /// with its problems. A method with problems takes no wire name; a later method that repeats a taken one is a
    /// <see cref="ShapeProblemKind.DuplicateWireName"/>.
    /// </summary>
    public static List<MemberShape> Members(INamedTypeSymbol type)
    {
        var members = new List<MemberShape>();
        var wireNames = new Dictionary<string, IMethodSymbol>(System.StringComparer.Ordinal);
        foreach (INamedTypeSymbol declaring in new[] { type }.Concat(type.AllInterfaces))
        {
            bool inherited = !SymbolEqualityComparer.Default.Equals(declaring, type);
            bool disposable = RpcShapes.IsDisposableInterface(declaring);
            foreach (ISymbol member in declaring.GetMembers())
            {
                if (member.IsStatic || !member.IsAbstract)
                {
                    continue; // static members and default implementations need nothing from the proxy
                }

                switch (member)
                {
                    case IMethodSymbol { MethodKind: MethodKind.Ordinary } method when disposable:
                        members.Add(new MemberShape(method, declaring, inherited, MemberShapeKind.LocalDispose));
                        break;
                    case IMethodSymbol { MethodKind: MethodKind.Ordinary } method:
                        MemberShape shape = Method(method, declaring, inherited);
                        if (shape.Problems.Count == 0)
                        {
                            if (wireNames.TryGetValue(shape.WireName, out IMethodSymbol? first))
                            {
                                shape.Problems.Add(new ShapeProblem(ShapeProblemKind.DuplicateWireName,
                                    $"its wire name '{shape.WireName}' is already used by {first.Name}({string.Join(", ", first.Parameters.Select(p => p.Type.ToDisplayString(s_display)))}); give one of them [RpcMethod(\"...\")]",
                                    other: first));
                            }
                            else
                            {
                                wireNames.Add(shape.WireName, method);
                            }
                        }

                        members.Add(shape);
                        break;
                    case IPropertySymbol property:
                        members.Add(new MemberShape(property, declaring, inherited, property.IsIndexer ? MemberShapeKind.Indexer : MemberShapeKind.Property));
                        break;
                    case IEventSymbol @event:
                        members.Add(new MemberShape(@event, declaring, inherited, MemberShapeKind.Event));
                        break;
                }
            }
        }

        return members;
    }

    private static readonly SymbolDisplayFormat s_display = SymbolDisplayFormat.CSharpErrorMessageFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    private static MemberShape Method(IMethodSymbol method, INamedTypeSymbol declaring, bool inherited)
    {
        var shape = new MemberShape(method, declaring, inherited, MemberShapeKind.Method) { WireName = RpcShapes.MethodWireName(method) };
        List<ShapeProblem> problems = shape.Problems;
        if (method.IsGenericMethod)
        {
            problems.Add(new ShapeProblem(ShapeProblemKind.GenericMethod, "generic methods cannot be called remotely"));
        }

        if (method.ReturnsByRef || method.ReturnsByRefReadonly)
        {
            problems.Add(new ShapeProblem(ShapeProblemKind.RefReturn, "ref returns cannot be called remotely"));
        }

        shape.TaskKind = RpcShapes.TaskKind(method.ReturnType, out ITypeSymbol? result);
        shape.Result = result;
        if (shape.TaskKind < 0)
        {
            problems.Add(new ShapeProblem(ShapeProblemKind.ReturnType,
                "its return type must be Task, Task<T>, ValueTask, ValueTask<T> or IAsyncEnumerable<T>"));
        }
        else if (result is not null && WhyNotSerializable(result) is { } resultProblem)
        {
            problems.Add(new ShapeProblem(ShapeProblemKind.CannotSerialize, $"its result type {result.ToDisplayString(s_display)} cannot be serialized", type: result, why: resultProblem));
        }

        int tokens = 0, tokenCount = method.Parameters.Count(p => RpcShapes.IsCancellationToken(p.Type));
        for (int i = 0; i < method.Parameters.Length; i++)
        {
            IParameterSymbol parameter = method.Parameters[i];
            if (parameter.RefKind != RefKind.None)
            {
                problems.Add(new ShapeProblem(ShapeProblemKind.RefParameter, $"parameter '{parameter.Name}' is passed by reference (ref, out or in)", parameter));
                continue;
            }

            if (parameter.IsParams)
            {
                problems.Add(new ShapeProblem(ShapeProblemKind.ParamsParameter, $"parameter '{parameter.Name}' is a params parameter", parameter));
                continue;
            }

            if (RpcShapes.IsCancellationToken(parameter.Type))
            {
                tokens++;
                if (tokens > 1)
                {
                    problems.Add(new ShapeProblem(ShapeProblemKind.ExtraCancellationToken, "it takes more than one CancellationToken", parameter));
                }
                else if (tokenCount == 1 && i != method.Parameters.Length - 1)
                {
                    problems.Add(new ShapeProblem(ShapeProblemKind.CancellationTokenNotLast, "its CancellationToken must be the last parameter", parameter));
                }
                else if (tokenCount == 1)
                {
                    shape.CancellationToken = parameter;
                }

                continue;
            }

            if (RpcShapes.StreamItem(parameter.Type) is { } item)
            {
                if (shape.StreamParameter is not null)
                {
                    problems.Add(new ShapeProblem(ShapeProblemKind.ExtraStreamParameter,
                        $"parameter '{parameter.Name}' is a second stream (IAsyncEnumerable<T>); a call carries one stream from its caller",
                        parameter));
                    continue;
                }

                shape.StreamParameter = parameter;
                shape.StreamItem = item;
                if (WhyNotSerializable(item) is { } itemProblem)
                {
                    problems.Add(new ShapeProblem(ShapeProblemKind.CannotSerialize,
                        $"the items of parameter '{parameter.Name}', of type {item.ToDisplayString(s_display)}, cannot be serialized",
                        parameter, item, itemProblem));
                }

                continue;
            }

            if (WhyNotSerializable(parameter.Type) is { } problem)
            {
                problems.Add(new ShapeProblem(ShapeProblemKind.CannotSerialize,
                    $"parameter '{parameter.Name}' of type {parameter.Type.ToDisplayString(s_display)} cannot be serialized", parameter, parameter.Type, problem));
            }
        }

        CheckResumable(method, shape);
        return shape;
    }

    /// <summary>
    /// <c>[Resumable]</c> needs a server stream, one <c>[ResumeFrom]</c> parameter of type <c>long?</c> or <c>long</c>, and
    /// items with a <c>long</c> (or <c>int</c>) property that holds their position; <c>[ResumeFrom]</c> needs <c>[Resumable]</c>.
    /// </summary>
    private static void CheckResumable(IMethodSymbol method, MemberShape shape)
    {
        AttributeData? resumable = RpcShapes.GetAttribute(method, RpcShapes.ResumableAttribute);
        IParameterSymbol[] from = method.Parameters.Where(p => RpcShapes.HasAttribute(p, RpcShapes.ResumeFromAttribute)).ToArray();
        if (resumable is null)
        {
            if (from.Length > 0)
            {
                shape.ResumableProblem = $"parameter '{from[0].Name}' is [ResumeFrom], but the method is not [Resumable]";
            }

            return;
        }

        string property = resumable.ConstructorArguments.Length == 1 && resumable.ConstructorArguments[0].Value is string named ? named : "Position";
        if (shape.TaskKind != 4 || shape.StreamParameter is not null)
        {
            shape.ResumableProblem = "only a server stream can be resumed: it returns IAsyncEnumerable<T> and takes no stream";
        }
        else if (from.Length != 1 || !IsResumeFromType(from[0].Type))
        {
            shape.ResumableProblem = from.Length > 1
                ? "it has more than one [ResumeFrom] parameter"
                : "it has no [ResumeFrom] parameter of type long? (or long) to resume from";
        }
        else if (shape.Result is null || !HasPositionProperty(shape.Result, property))
        {
            string item = shape.Result?.ToDisplayString(s_display) ?? "?";
            shape.ResumableProblem = $"its items ({item}) have no readable long property '{property}' to take each item's position from";
        }
        else
        {
            shape.ResumeFrom = from[0];
            shape.PositionProperty = property;
        }
    }

    private static bool IsResumeFromType(ITypeSymbol type) =>
        type.SpecialType == SpecialType.System_Int64 ||
        (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } wrapped &&
            wrapped.TypeArguments[0].SpecialType == SpecialType.System_Int64);

    private static bool HasPositionProperty(ITypeSymbol type, string name)
    {
        for (ITypeSymbol? t = type; t is not null; t = t.BaseType)
        {
            foreach (ISymbol member in t.GetMembers(name))
            {
                if (member is IPropertySymbol { IsStatic: false, GetMethod: not null, DeclaredAccessibility: Accessibility.Public } property &&
                    property.Type.SpecialType is SpecialType.System_Int64 or SpecialType.System_Int32)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// Null when <paramref name="type"/> can travel as JSON at all; otherwise why not. (Whether it has a usable contract,
    /// an interface with no known implementation for example, is a warning the analyzers give, not a shape rule.)
    /// Type parameters are the generic method's problem, not the type's.
    /// </summary>
    public static string? WhyNotSerializable(ITypeSymbol type)
    {
        if (type.TypeKind == TypeKind.TypeParameter)
        {
            return null;
        }

        if (!RpcShapes.CanBeTypeArgument(type))
        {
            return "it is a ref struct or a pointer";
        }

        if (type.TypeKind == TypeKind.Delegate)
        {
            return "it is a delegate: code cannot travel";
        }

        if (type.SpecialType is SpecialType.System_IntPtr or SpecialType.System_UIntPtr)
        {
            return "it is a native pointer value";
        }

        if (IsOrDerives(type, "System.IO.Stream"))
        {
            return "it is a stream; send a byte[]";
        }

        if (IsOrDerives(type, "System.Threading.Tasks.Task") || RpcShapes.IsNamed(type.OriginalDefinition, "System.Threading.Tasks.ValueTask") && ((INamedTypeSymbol)type).Arity <= 1)
        {
            return "it is a task; await it and send its result";
        }

        return RpcShapes.IsNamed(type, "System.Type", arity: 0) ? "it is a System.Type" : null;
    }

    private static bool IsOrDerives(ITypeSymbol type, string metadataName)
    {
        for (ITypeSymbol? t = type; t is not null; t = t.BaseType)
        {
            if (RpcShapes.IsNamed(t.OriginalDefinition, metadataName, arity: 0))
            {
                return true;
            }
        }

        return false;
    }
}

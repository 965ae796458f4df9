extern alias GeneratorAssembly;
using Microsoft.CodeAnalysis;
using RpcGen.Tests.Support;
using Xunit;
using RpcShapes = GeneratorAssembly::RpcGen.Shared.RpcShapes; // the same file is compiled into the analyzers too

namespace RpcGen.Tests.Generator;

/// <summary>
/// <see cref="RpcShapes.IsNamed"/> says what <c>ToDisplayString() == name</c> said (the parser compared every attribute
/// and parameter type that way, on every IDE edit), without formatting: the same answers, name by name.
/// </summary>
public sealed class SymbolNameTests
{
    private static readonly Compilation s_compilation = GeneratorHarness.CreateCompilation("""
        namespace RpcGen { public sealed class TimeoutAttribute : System.Attribute { } }
        namespace MyRpcGen { public sealed class TimeoutAttribute : System.Attribute { } }
        namespace Outer.RpcGen { public sealed class TimeoutAttribute : System.Attribute { } }
        public sealed class TimeoutAttribute : System.Attribute { }
        namespace Shapes { public class Holder { public class Nested { } } public class Generic<T> { } }
        """);

    private static INamedTypeSymbol Type(string metadataName) =>
        s_compilation.GetTypeByMetadataName(metadataName) ?? throw new InvalidOperationException(metadataName);

    [Theory]
    [InlineData("RpcGen.TimeoutAttribute", "RpcGen.TimeoutAttribute", true)]
    [InlineData("MyRpcGen.TimeoutAttribute", "RpcGen.TimeoutAttribute", false)]   // a longer namespace that ends the same
    [InlineData("Outer.RpcGen.TimeoutAttribute", "RpcGen.TimeoutAttribute", false)] // a namespace nested elsewhere
    [InlineData("TimeoutAttribute", "RpcGen.TimeoutAttribute", false)]              // the global namespace
    [InlineData("RpcGen.TimeoutAttribute", "TimeoutAttribute", false)]
    [InlineData("TimeoutAttribute", "TimeoutAttribute", true)]
    [InlineData("Shapes.Holder+Nested", "Shapes.Holder.Nested", true)]
    [InlineData("Shapes.Holder+Nested", "Shapes.Nested", false)]
    [InlineData("System.Threading.CancellationToken", "System.Threading.CancellationToken", true)]
    [InlineData("System.Threading.CancellationToken", "Threading.CancellationToken", false)]
    public void MatchesWhatTheDisplayStringSaid(string metadataName, string fullName, bool expected)
    {
        INamedTypeSymbol type = Type(metadataName);
        Assert.Equal(expected, RpcShapes.IsNamed(type, fullName));
        Assert.Equal(type.ToDisplayString() == fullName, RpcShapes.IsNamed(type, fullName));
    }

    [Fact]
    public void Arity_TellsGenericDefinitionsApart()
    {
        Assert.True(RpcShapes.IsNamed(Type("System.Threading.Tasks.Task"), "System.Threading.Tasks.Task", arity: 0));
        Assert.False(RpcShapes.IsNamed(Type("System.Threading.Tasks.Task`1"), "System.Threading.Tasks.Task", arity: 0));
        Assert.True(RpcShapes.IsNamed(Type("System.Threading.Tasks.Task`1"), "System.Threading.Tasks.Task", arity: 1));
        Assert.True(RpcShapes.IsNamed(Type("Shapes.Generic`1"), "Shapes.Generic"));
        Assert.False(RpcShapes.IsNamed(null, "Shapes.Generic"));
    }

    [Fact]
    public void TaskKind_ReadsTheFourShapes()
    {
        INamedTypeSymbol task = Type("System.Threading.Tasks.Task");
        INamedTypeSymbol valueTask = Type("System.Threading.Tasks.ValueTask");
        ITypeSymbol integer = s_compilation.GetSpecialType(SpecialType.System_Int32);
        Assert.Equal(0, RpcShapes.TaskKind(task, out _));
        Assert.Equal(1, RpcShapes.TaskKind(Type("System.Threading.Tasks.Task`1").Construct(integer), out ITypeSymbol? taskResult));
        Assert.Equal(integer, taskResult, SymbolEqualityComparer.Default);
        Assert.Equal(2, RpcShapes.TaskKind(valueTask, out _));
        Assert.Equal(3, RpcShapes.TaskKind(Type("System.Threading.Tasks.ValueTask`1").Construct(integer), out _));
        Assert.Equal(-1, RpcShapes.TaskKind(integer, out _));
    }
}

using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using RpcGen.Generator;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Generator;

/// <summary>The generator's cache: unchanged inputs and unrelated edits must not re-run parsing output or emission.</summary>
public sealed class GeneratorIncrementalTests
{
    private const string Service = """
        using System.Threading;
        using System.Threading.Tasks;
        using RpcGen;

        namespace Cache;

        [RpcService("calc")]
        public interface ICalculator
        {
            Task<int> AddAsync(int a, int b, CancellationToken ct = default);
        }
        """;

    private const string Unrelated = """
        namespace Cache;

        public static class Helper
        {
            public static int Twice(int x) => x * 2;
        }
        """;

    private static readonly string[] s_trackedSteps =
    {
        TrackingNames.ServiceSpecs,
        TrackingNames.LanguageVersion,
        TrackingNames.ServicesWithLanguage,
    };

    [Fact]
    public void RerunOnClonedCompilation_EveryStepCached()
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(Service, Unrelated);
        (_, _, GeneratorDriver driver) = GeneratorHarness.Run(compilation);

        GeneratorRunResult second = driver.RunGenerators(compilation.Clone()).GetRunResult().Results.Single();

        AssertAllCachedOrUnchanged(second);
    }

    [Fact]
    public void UnrelatedEdit_LeavesEveryOutputCached()
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(Service, Unrelated);
        (_, _, GeneratorDriver driver) = GeneratorHarness.Run(compilation);

        SyntaxTree oldTree = compilation.SyntaxTrees.Single(t => t.FilePath == "Source1.cs");
        SyntaxTree newTree = CSharpSyntaxTree.ParseText(Unrelated.Replace("x * 2", "x + x", StringComparison.Ordinal), GeneratorHarness.ParseOptions, "Source1.cs");
        GeneratorRunResult second = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree)).GetRunResult().Results.Single();

        AssertAllCachedOrUnchanged(second);
    }

    [Fact]
    public void EditInsideTheServiceFileThatKeepsTheShape_ModelUnchanged()
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(Service + "\n// a comment\n", Unrelated);
        (_, _, GeneratorDriver driver) = GeneratorHarness.Run(compilation);

        SyntaxTree oldTree = compilation.SyntaxTrees.Single(t => t.FilePath == "Source0.cs");
        SyntaxTree newTree = CSharpSyntaxTree.ParseText(Service + "\n// another comment\n", GeneratorHarness.ParseOptions, "Source0.cs");
        GeneratorRunResult second = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree)).GetRunResult().Results.Single();

        // The transform re-ran (its file changed) but produced an equal spec, so emission is skipped.
        Assert.All(second.TrackedSteps[TrackingNames.ServiceSpecs].SelectMany(s => s.Outputs),
            output => Assert.Contains(output.Reason, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            output => Assert.Contains(output.Reason, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
    }

    [Fact]
    public void AddingAMethod_ModifiesTheModel()
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(Service, Unrelated);
        (_, _, GeneratorDriver driver) = GeneratorHarness.Run(compilation);

        SyntaxTree oldTree = compilation.SyntaxTrees.Single(t => t.FilePath == "Source0.cs");
        string changed = Service.Replace("default);", "default);\n    Task ResetAsync();", StringComparison.Ordinal);
        Assert.NotEqual(Service, changed);
        SyntaxTree newTree = CSharpSyntaxTree.ParseText(changed, GeneratorHarness.ParseOptions, "Source0.cs");
        GeneratorRunResult second = driver.RunGenerators(compilation.ReplaceSyntaxTree(oldTree, newTree)).GetRunResult().Results.Single();

        IncrementalStepRunReason reason = second.TrackedSteps[TrackingNames.ServiceSpecs].Single().Outputs.Single().Reason;
        Assert.Equal(IncrementalStepRunReason.Modified, reason);
        Assert.Contains(second.GeneratedSources, s => s.SourceText.ToString().Contains("ResetAsync", StringComparison.Ordinal));
    }

    [Fact]
    public void Model_HoldsNoSymbolsSyntaxOrCompilations()
    {
        Type[] forbidden = { typeof(ISymbol), typeof(SyntaxNode), typeof(Compilation), typeof(Location), typeof(SemanticModel) };
        var seen = new HashSet<Type>();
        var queue = new Queue<Type>();
        queue.Enqueue(typeof(RpcGenerator).Assembly.GetType("RpcGen.Generator.Model.ServiceSpec", throwOnError: true)!);
        while (queue.Count > 0)
        {
            Type type = queue.Dequeue();
            if (!seen.Add(type) || type.IsPrimitive || type.IsEnum || type == typeof(string))
            {
                continue;
            }

            foreach (Type bad in forbidden)
            {
                Assert.False(bad.IsAssignableFrom(type), $"{type} in the generator model is a {bad.Name}");
            }

            foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                queue.Enqueue(property.PropertyType);
            }

            foreach (Type argument in type.GetGenericArguments())
            {
                queue.Enqueue(argument);
            }
        }

        Assert.Contains(seen, t => t.Name == "MethodSpec");
        Assert.Contains(seen, t => t.Name == "TypeRef");
    }

    private static void AssertAllCachedOrUnchanged(GeneratorRunResult result)
    {
        foreach (string step in s_trackedSteps)
        {
            Assert.True(result.TrackedSteps.ContainsKey(step), $"step {step} was not tracked");
            foreach (IncrementalGeneratorRunStep run in result.TrackedSteps[step])
            {
                foreach ((object _, IncrementalStepRunReason reason) in run.Outputs)
                {
                    Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"step {step} was {reason}");
                }
            }
        }

        foreach (IncrementalGeneratorRunStep run in result.TrackedOutputSteps.SelectMany(s => s.Value))
        {
            foreach ((object _, IncrementalStepRunReason reason) in run.Outputs)
            {
                Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"an output step was {reason}");
            }
        }
    }
}

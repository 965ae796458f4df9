using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using RpcGen.Generator;

namespace RpcGen.Benchmarks;

/// <summary>
/// The generator as an IDE runs it, on a project of 200 [RpcService] interfaces with 10 methods each (one file each,
/// plus an unrelated file): a full run (a fresh driver: build or solution load), an edit of the unrelated file (every
/// keystroke elsewhere in the project) and an edit of one method's signature (the one output that must change).
/// </summary>
[MemoryDiagnoser]
public class GeneratorBenchmarks
{
    private const int Interfaces = 200;
    private static readonly CSharpParseOptions s_parse = new(LanguageVersion.CSharp12);
    private CSharpCompilation _compilation = null!;
    private GeneratorDriver _warm = null!;
    private SyntaxTree _unrelated = null!;
    private SyntaxTree _service = null!;
    private int _edit;

    [GlobalSetup]
    public void Setup()
    {
        var trees = new List<SyntaxTree>();
        for (int i = 0; i < Interfaces; i++)
        {
            trees.Add(CSharpSyntaxTree.ParseText(Service(i, "int"), s_parse, path: $"Service{i}.cs"));
        }

        _unrelated = CSharpSyntaxTree.ParseText(Unrelated(0), s_parse, path: "Unrelated.cs");
        trees.Add(_unrelated);
        _service = trees[Interfaces / 2];
        _compilation = CSharpCompilation.Create("GeneratorBench", trees, References(),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        _warm = CreateDriver().RunGenerators(_compilation);
        if (_warm.GetRunResult().GeneratedTrees.Length != 3 * Interfaces)
        {
            throw new InvalidOperationException($"expected {3 * Interfaces} generated files, got {_warm.GetRunResult().GeneratedTrees.Length}: {string.Join("; ", _warm.GetRunResult().Diagnostics)}");
        }
    }

    [Benchmark(Description = "full run, 200 interfaces x 10 methods")]
    public GeneratorDriver Full() => CreateDriver().RunGenerators(_compilation);

    [Benchmark(Description = "edit of an unrelated file")]
    public GeneratorDriver UnrelatedEdit()
    {
        SyntaxTree edited = _unrelated.WithChangedText(SourceText.From(Unrelated(++_edit)));
        CSharpCompilation next = _compilation.ReplaceSyntaxTree(_unrelated, edited);
        _compilation = next;
        _unrelated = edited;
        return _warm = _warm.RunGenerators(next);
    }

    [Benchmark(Description = "edit of one method's signature")]
    public GeneratorDriver SignatureEdit()
    {
        SyntaxTree edited = _service.WithChangedText(SourceText.From(Service(Interfaces / 2, ++_edit % 2 == 0 ? "int" : "long")));
        CSharpCompilation next = _compilation.ReplaceSyntaxTree(_service, edited);
        _compilation = next;
        _service = edited;
        return _warm = _warm.RunGenerators(next);
    }

    private static GeneratorDriver CreateDriver() =>
        CSharpGeneratorDriver.Create(new[] { new RpcGenerator().AsSourceGenerator() }, parseOptions: s_parse);

    private static string Service(int index, string firstArgument)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine("using System.Threading; using System.Threading.Tasks; using RpcGen;");
        text.AppendLine("namespace Bench.Services;");
        text.AppendLine($"public sealed record Item{index}(string Name, int Count);");
        text.AppendLine($"[RpcService(\"svc{index}\"), Timeout(500), Retry(MaxAttempts = 3)]");
        text.AppendLine($"public interface IService{index}");
        text.AppendLine("{");
        for (int m = 0; m < 10; m++)
        {
            string argument = m == 0 ? firstArgument : "int";
            text.AppendLine((m % 3) switch
            {
                0 => $"    [Idempotent] Task<int> Method{m}Async({argument} a, int b, CancellationToken ct = default);",
                1 => $"    ValueTask<Item{index}> Method{m}Async([HashKey] string key, Item{index} item);",
                _ => $"    Task Method{m}Async({argument} a, string b);",
            });
        }

        text.AppendLine("}");
        return text.ToString();
    }

    private static string Unrelated(int edit) => $"namespace Bench.Other; public static class Helper {{ public static int Value => {edit}; }}";

    private static ImmutableArray<MetadataReference> References()
    {
        var references = new List<MetadataReference>();
        string tpa = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
        foreach (string path in tpa.Split(Path.PathSeparator))
        {
            string file = Path.GetFileName(path);
            if (file.StartsWith("System.", StringComparison.Ordinal) || file is "netstandard.dll" or "mscorlib.dll")
            {
                references.Add(MetadataReference.CreateFromFile(path));
            }
        }

        references.Add(MetadataReference.CreateFromFile(typeof(RpcClient).Assembly.Location));
        return references.ToImmutableArray();
    }
}

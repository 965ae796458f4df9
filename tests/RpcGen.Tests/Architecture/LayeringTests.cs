using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using RpcGen.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RpcGen.Tests.Architecture;

/// <summary>
/// The runtime's layers (docs/architecture.md): each folder of <c>runtime/</c> is a namespace of the same name, and a
/// layer may use only the layers below it. The test compiles the runtime's sources with Roslyn and follows every name
/// each file uses to the namespace that declares it.
/// </summary>
public sealed class LayeringTests
{
    private readonly ITestOutputHelper _output;

    public LayeringTests(ITestOutputHelper output) => _output = output;

    /// <summary>What each layer may use besides itself (the root, <c>RpcGen</c>, holds the attributes).</summary>
    public static readonly ImmutableDictionary<string, string[]> Allowed = new Dictionary<string, string[]>
    {
        ["RpcGen"] = Array.Empty<string>(),
        ["Protocol"] = new[] { "RpcGen" },
        ["Telemetry"] = new[] { "RpcGen", "Protocol" },
        ["Serialization"] = new[] { "RpcGen", "Protocol" },
        ["Descriptors"] = new[] { "RpcGen", "Protocol", "Serialization", "Resilience" },
        ["Transport"] = new[] { "RpcGen", "Protocol", "Telemetry" },
        ["Balancing"] = new[] { "RpcGen", "Protocol", "Telemetry", "Descriptors" },
        ["Resilience"] = new[] { "RpcGen", "Protocol", "Telemetry", "Descriptors", "Balancing" },
        ["Client"] = new[] { "RpcGen", "Protocol", "Telemetry", "Serialization", "Descriptors", "Transport", "Balancing", "Resilience" },
        ["Server"] = new[] { "RpcGen", "Protocol", "Telemetry", "Serialization", "Descriptors", "Transport", "Balancing" },
        ["Admin"] = new[]
        {
            "RpcGen", "Protocol", "Telemetry", "Serialization", "Descriptors", "Transport", "Balancing", "Resilience", "Client", "Server",
        },
    }.ToImmutableDictionary();

    [Fact]
    public void EveryFileDeclaresTheNamespaceOfItsFolder_AndUsesOnlyTheLayersBelow()
    {
        string runtime = Path.Combine(TestPaths.RepositoryRoot, "runtime");
        var files = Directory.EnumerateFiles(runtime, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal) &&
                        !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), new CSharpParseOptions(LanguageVersion.Latest), path: f)).ToList();
        CSharpCompilation compilation = CSharpCompilation.Create("RpcGenLayers", trees,
            GeneratorHarness.References(static file => file.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal) || file.StartsWith("Microsoft.Win32.", StringComparison.Ordinal) ||
                                                       file.StartsWith("Polly", StringComparison.Ordinal) ||
                                                       file.StartsWith("ZstdSharp", StringComparison.Ordinal))
                .Where(r => !r.Display!.EndsWith("RpcGen.dll", StringComparison.Ordinal)),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
        // Without the LoggerMessage source generator the log methods have no bodies (CS8795); every other error counts.
        string[] errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && d.Id != "CS8795").Select(d => d.ToString()).Take(5).ToArray();
        Assert.True(errors.Length == 0, "the runtime's sources did not compile on their own:\n" + string.Join("\n", errors));

        var problems = new SortedSet<string>(StringComparer.Ordinal);
        foreach (SyntaxTree tree in trees)
        {
            string relative = Path.GetRelativePath(runtime, tree.FilePath).Replace(Path.DirectorySeparatorChar, '/');
            string folder = relative.Contains('/') ? relative[..relative.IndexOf('/')] : "RpcGen";
            SemanticModel model = compilation.GetSemanticModel(tree);
            SyntaxNode root = tree.GetRoot();
            foreach (BaseNamespaceDeclarationSyntax ns in root.DescendantNodes().OfType<BaseNamespaceDeclarationSyntax>())
            {
                string declared = Layer(ns.Name.ToString());
                if (declared != folder)
                {
                    problems.Add($"{relative}: declares namespace {ns.Name} in folder {folder}/ (folder = namespace)");
                }
            }

            // A using of a layer the folder may not use is an upward arrow even when nothing from it is used (yet).
            foreach (UsingDirectiveSyntax directive in root.DescendantNodes().OfType<UsingDirectiveSyntax>())
            {
                string target = directive.NamespaceOrType.ToString();
                if (target != "RpcGen" && !target.StartsWith("RpcGen.", StringComparison.Ordinal))
                {
                    continue;
                }

                string usedLayer = Layer(target);
                if (usedLayer != folder && (!Allowed.TryGetValue(folder, out string[]? allowedLayers) || !allowedLayers.Contains(usedLayer)))
                {
                    problems.Add($"{folder} → {usedLayer}: {relative} has 'using {target};'");
                }
            }

            foreach (SimpleNameSyntax name in root.DescendantNodes().OfType<SimpleNameSyntax>())
            {
                ISymbol? symbol = model.GetSymbolInfo(name).Symbol ?? model.GetSymbolInfo(name).CandidateSymbols.FirstOrDefault();
                INamedTypeSymbol? type = symbol as INamedTypeSymbol ?? symbol?.ContainingType;
                while (type?.ContainingType is not null)
                {
                    type = type.ContainingType;
                }

                if (type is null || !type.ContainingAssembly.Equals(compilation.Assembly, SymbolEqualityComparer.Default))
                {
                    continue;
                }

                string used = Layer(type.ContainingNamespace.ToDisplayString());
                if (used != folder && (!Allowed.TryGetValue(folder, out string[]? allowed) || !allowed.Contains(used)))
                {
                    problems.Add($"{folder} → {used}: {relative} uses {type.Name}");
                }
            }
        }

        foreach (string problem in problems)
        {
            _output.WriteLine(problem);
        }

        Assert.True(problems.Count == 0, $"{problems.Count} layering problems (see docs/architecture.md for the allowed arrows):\n" + string.Join("\n", problems));
    }

    private static string Layer(string @namespace) =>
        @namespace == "RpcGen" ? "RpcGen" : @namespace.StartsWith("RpcGen.", StringComparison.Ordinal) ? @namespace["RpcGen.".Length..].Split('.')[0] : @namespace;
}

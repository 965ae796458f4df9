using System.Collections.Immutable;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using RpcGen.Analyzers;
using RpcGen.Generator;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Docs;

/// <summary>
/// Every <c>```csharp</c> block in README.md, runtime/PACKAGE.md and docs/ compiles as a user would paste it: one file
/// of a console project with implicit usings and nullable on, the RpcGen generator, the analyzers and
/// System.Text.Json's generator running, and warnings counted as errors. An HTML comment on the line before a block
/// changes that: <c>&lt;!-- snippet: continues --&gt;</c> to compile it after the file's previous block, and
/// <c>&lt;!-- snippet: expect RPCGEN019 --&gt;</c> for a block that shows a diagnostic (exactly those ids must appear).
/// </summary>
public sealed partial class DocSnippetTests
{
    public static TheoryData<string, int> Snippets()
    {
        var data = new TheoryData<string, int>();
        foreach (string file in MarkdownFiles())
        {
            int count = Blocks(file).Count;
            for (int i = 0; i < count; i++)
            {
                data.Add(file, i);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void CSharpBlock_Compiles(string file, int index)
    {
        List<Block> blocks = Blocks(file);
        Block block = blocks[index];
        int first = index;
        while (first > 0 && blocks[first].Continues)
        {
            first--;
        }

        string code = first == index ? block.Code : Join(blocks.GetRange(first, index - first + 1));
        string[] problems = Compile(code, out HashSet<string> ids);
        var expected = new HashSet<string>(block.Expected, StringComparer.Ordinal);
        string where = $"{file}, block {index + 1} (line {block.Line})";
        if (expected.Count == 0)
        {
            Assert.True(problems.Length == 0, $"{where} does not compile as pasted:\n{string.Join("\n", problems)}");
        }
        else
        {
            Assert.True(ids.SetEquals(expected), $"{where} should report exactly {string.Join(", ", expected)}:\n{string.Join("\n", problems)}");
        }
    }

    [Fact]
    public void TheSnippetsAreFound()
    {
        Assert.Contains("README.md", MarkdownFiles());
        Assert.True(Snippets().Count() >= 30, "fewer C# blocks than the docs hold");
    }

    /// <summary>
    /// Blocks a reader puts in one file, in order: their usings first, then their statements, then their types (as the
    /// prose reads them, a type may be shown before the statements that use it).
    /// </summary>
    private static string Join(List<Block> chain)
    {
        var usings = new List<string>();
        var statements = new StringBuilder();
        var members = new StringBuilder();
        foreach (Block part in chain)
        {
            var root = CSharpSyntaxTree.ParseText(part.Code).GetCompilationUnitRoot();
            foreach (var directive in root.Usings)
            {
                string text = directive.ToFullString().Trim();
                if (!usings.Contains(text))
                {
                    usings.Add(text);
                }
            }

            foreach (var member in root.Members)
            {
                (member is Microsoft.CodeAnalysis.CSharp.Syntax.GlobalStatementSyntax ? statements : members).AppendLine(member.ToFullString());
            }
        }

        return string.Join("\n", usings) + "\n" + statements + members;
    }

    private sealed record Block(string Code, int Line, bool Continues, string[] Expected);

    private static IEnumerable<string> MarkdownFiles()
    {
        string root = TestPaths.RepositoryRoot;
        yield return "README.md";
        yield return Path.Combine("runtime", "PACKAGE.md");
        foreach (string path in Directory.GetFiles(Path.Combine(root, "docs"), "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            yield return Path.GetRelativePath(root, path);
        }
    }

    private static List<Block> Blocks(string file)
    {
        string[] lines = File.ReadAllLines(Path.Combine(TestPaths.RepositoryRoot, file));
        var blocks = new List<Block>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```csharp")
            {
                continue;
            }

            string directive = i > 0 ? lines[i - 1].Trim() : string.Empty;
            Match match = Directive().Match(directive);
            string kind = match.Success ? match.Groups["kind"].Value : string.Empty;
            int start = i + 1;
            int end = start;
            while (end < lines.Length && lines[end].Trim() != "```")
            {
                end++;
            }

            blocks.Add(new Block(
                string.Join("\n", lines[start..end]),
                start,
                kind == "continues",
                kind == "expect" ? match.Groups["ids"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries) : Array.Empty<string>()));
            i = end;
        }

        return blocks;
    }

    [GeneratedRegex(@"^<!--\s*snippet:\s*(?<kind>continues|expect)(?<ids>(\s+[A-Z]+[0-9]+)*)\s*-->$")]
    private static partial Regex Directive();

    /// <summary>
    /// A console project's implicit usings, plus those the RpcGen package adds (read from runtime/build/RpcGen.props, so
    /// the docs compile exactly as a project that references the package does).
    /// </summary>
    private static readonly string s_implicitUsings = """
        global using global::System;
        global using global::System.Collections.Generic;
        global using global::System.IO;
        global using global::System.Linq;
        global using global::System.Net.Http;
        global using global::System.Threading;
        global using global::System.Threading.Tasks;

        """ + string.Concat(
            PackageUsing().Matches(File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "runtime", "build", "RpcGen.props")))
                .Select(m => $"global using global::{m.Groups["ns"].Value};\n"));

    [GeneratedRegex(@"<Using Include=""(?<ns>[A-Za-z.]+)"" />")]
    private static partial Regex PackageUsing();

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(() =>
        GeneratorHarness.References(file =>
            file.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal) || file.StartsWith("Microsoft.AspNetCore.", StringComparison.Ordinal) ||
            file.StartsWith("Polly.", StringComparison.Ordinal) || file.StartsWith("OpenTelemetry", StringComparison.Ordinal) ||
            file is "Microsoft.Net.Http.Headers.dll" or "RpcGen.Hosting.dll" or "RpcGen.Etcd.dll" or "RpcGen.Dns.dll" or "RpcGen.AspNetCore.dll" or
                "RpcGen.Sqlite.dll" or "Microsoft.Data.Sqlite.dll" or "RpcGen.Redis.dll" or "StackExchange.Redis.dll"));

    /// <summary>System.Text.Json's own source generator, from the targeting pack, for snippets that declare a context.</summary>
    private static readonly Lazy<ISourceGenerator[]> s_jsonGenerator = new(() =>
    {
        string? packs = Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", "..", "packs", "Microsoft.NETCore.App.Ref");
        string? version = Directory.GetDirectories(packs).Select(Path.GetFileName).Where(v => v!.StartsWith(Environment.Version.Major + ".", StringComparison.Ordinal)).Max(StringComparer.Ordinal);
        string path = Directory.GetFiles(Path.Combine(packs, version!, "analyzers"), "System.Text.Json.SourceGeneration.dll", SearchOption.AllDirectories).First();
        var reference = new Microsoft.CodeAnalysis.Diagnostics.AnalyzerFileReference(path, new AssemblyLoader());
        return reference.GetGenerators(LanguageNames.CSharp).ToArray();
    });

    private sealed class AssemblyLoader : IAnalyzerAssemblyLoader
    {
        public void AddDependencyLocation(string fullPath)
        {
        }

        public System.Reflection.Assembly LoadFromPath(string fullPath) => System.Reflection.Assembly.LoadFrom(fullPath);
    }

    private static string[] Compile(string code, out HashSet<string> ids)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        SyntaxTree snippet = CSharpSyntaxTree.ParseText(code, parse, path: "Snippet.cs");
        bool statements = snippet.GetCompilationUnitRoot().Members.OfType<Microsoft.CodeAnalysis.CSharp.Syntax.GlobalStatementSyntax>().Any();
        CSharpCompilation compilation = CSharpCompilation.Create(
            "Snippet",
            new[] { CSharpSyntaxTree.ParseText(s_implicitUsings, parse, path: "Usings.cs"), snippet },
            s_references.Value,
            new CSharpCompilationOptions(
                statements ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable,
                specificDiagnosticOptions: new Dictionary<string, ReportDiagnostic>
                {
                    ["CS1701"] = ReportDiagnostic.Suppress,
                    ["CS1702"] = ReportDiagnostic.Suppress,
                }));
        var generators = new List<ISourceGenerator> { new RpcGenerator().AsSourceGenerator() };
        generators.AddRange(s_jsonGenerator.Value);
        CSharpGeneratorDriver.Create(generators, parseOptions: parse).RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out ImmutableArray<Diagnostic> generatorDiagnostics);
        ImmutableArray<Diagnostic> analyzerDiagnostics = output
            .WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new RpcServiceAnalyzer()))
            .GetAnalyzerDiagnosticsAsync().GetAwaiter().GetResult();
        Diagnostic[] all = output.GetDiagnostics().Concat(generatorDiagnostics).Concat(analyzerDiagnostics)
            .Where(d => d.Severity >= DiagnosticSeverity.Warning)
            .ToArray();
        ids = all.Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
        return all.Select(d => $"{d.Id} line {d.Location.GetLineSpan().StartLinePosition.Line + 1}: {d.GetMessage()}").ToArray();
    }
}

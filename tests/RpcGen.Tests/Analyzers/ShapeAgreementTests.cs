using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using RpcGen.Analyzers;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Analyzers;

/// <summary>
/// The generator and the analyzers apply one set of shape rules (generator/Helpers/ServiceShape.cs, compiled into
/// both): every member the generated proxy refuses (NotSupportedException) is one the analyzers report, and the other
/// way round.
/// </summary>
public sealed class ShapeAgreementTests
{
    private const string Source = """
        using System;
        using System.IO;
        using System.Threading;
        using System.Threading.Tasks;
        using RpcGen;

        namespace Shapes;

        [RpcService("mixed")]
        public interface IMixed
        {
            Task<T> Generic<T>(T value, CancellationToken ct = default);
            ref Task RefReturn(CancellationToken ct = default);
            int Sync(int x);
            Task RefParam(ref int x, CancellationToken ct = default);
            Task Params(CancellationToken ct = default, params int[] xs);
            Task TwoTokens(CancellationToken a, CancellationToken b);
            Task TokenFirst(CancellationToken ct, int x);
            Task Callback(Func<int> f, CancellationToken ct = default);
            Task<Stream> Open(CancellationToken ct = default);
            Task<Task<int>> Nested(CancellationToken ct = default);
            Task Kind(Type type, CancellationToken ct = default);
            Task Dup(CancellationToken ct = default);
            [RpcMethod("Dup")] Task Other(CancellationToken ct = default);
            int Property { get; }
            int this[int i] { get; }
            event EventHandler Changed;
            Task<int> FineAsync(int x, string? name, CancellationToken ct = default);
        }
        """;

    /// <summary>The analyzer ids of shape rules (not JSON-contract warnings or attribute values).</summary>
    private static readonly string[] s_shapeIds = { "RPCGEN001", "RPCGEN002", "RPCGEN003", "RPCGEN005", "RPCGEN006", "RPCGEN008", "RPCGEN010" };

    [Fact]
    public async Task GeneratorAndAnalyzers_RefuseTheSameMembers()
    {
        var compilation = GeneratorHarness.CreateCompilation(Source);
        (GeneratorDriverRunResult result, _, _) = GeneratorHarness.Run(compilation);
        string proxy = result.GeneratedTrees.Single(t => t.FilePath.EndsWith("RpcProxy.g.cs", StringComparison.Ordinal)).ToString();
        var refusedByGenerator = Regex.Matches(proxy, @"NotSupportedException\(""'IMixed\.(\w+|this\[\])")
            .Select(m => m.Groups[1].Value == "this[]" ? "this" : m.Groups[1].Value)
            .ToHashSet(StringComparer.Ordinal);

        ImmutableArray<Diagnostic> diagnostics = await compilation
            .WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new RpcServiceAnalyzer()))
            .GetAnalyzerDiagnosticsAsync();
        var refusedByAnalyzers = diagnostics
            .Where(d => s_shapeIds.Contains(d.Id))
            .Select(d => MemberAt(d.Location))
            .ToHashSet(StringComparer.Ordinal);

        string[] expected =
        {
            "Generic", "RefReturn", "Sync", "RefParam", "Params", "TwoTokens", "TokenFirst", "Callback", "Open", "Nested", "Kind", "Other",
            "Property", "this", "Changed",
        };
        Assert.Equal(expected.Order(StringComparer.Ordinal), refusedByGenerator.Order(StringComparer.Ordinal));
        Assert.Equal(expected.Order(StringComparer.Ordinal), refusedByAnalyzers.Order(StringComparer.Ordinal));
        Assert.Contains("IMixed.@FineAsync(int @x, string? @name, global::System.Threading.CancellationToken @ct)\n", proxy, StringComparison.Ordinal); // sent
        Assert.Contains("IMixed.@Dup(", proxy, StringComparison.Ordinal);                   // the first of the clashing names is sent
    }

    private static string MemberAt(Location location)
    {
        SyntaxNode node = location.SourceTree!.GetRoot().FindNode(location.SourceSpan);
        MemberDeclarationSyntax member = node.AncestorsAndSelf().OfType<MemberDeclarationSyntax>().First();
        return member switch
        {
            MethodDeclarationSyntax method => method.Identifier.Text,
            PropertyDeclarationSyntax property => property.Identifier.Text,
            IndexerDeclarationSyntax => "this",
            EventFieldDeclarationSyntax @event => @event.Declaration.Variables[0].Identifier.Text,
            _ => member.ToString(),
        };
    }
}

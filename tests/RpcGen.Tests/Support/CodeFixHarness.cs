using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using RpcGen.Analyzers;
using Xunit;

namespace RpcGen.Tests.Support;

/// <summary>
/// Applies code fixes the way the IDE does, in an <see cref="AdhocWorkspace"/>: one diagnostic at a time, or all of
/// them through the provider's fix-all. The Roslyn *.Testing packages are not served here.
/// </summary>
public static class CodeFixHarness
{
    private static Document CreateDocument(string source)
    {
        var workspace = new AdhocWorkspace();
        Project project = workspace.AddProject(ProjectInfo.Create(
            ProjectId.CreateNewId(), VersionStamp.Create(), "FixTests", "FixTests", LanguageNames.CSharp,
            compilationOptions: GeneratorHarness.CreateCompilation().Options,
            parseOptions: GeneratorHarness.ParseOptions,
            metadataReferences: GeneratorHarness.CreateCompilation().References));
        return workspace.AddDocument(project.Id, "Test.cs", Microsoft.CodeAnalysis.Text.SourceText.From(source));
    }

    private static async Task<ImmutableArray<Diagnostic>> DiagnosticsAsync(Document document, string id)
    {
        Compilation compilation = (await document.Project.GetCompilationAsync())!;
        ImmutableArray<Diagnostic> all = await compilation
            .WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new RpcServiceAnalyzer()))
            .GetAnalyzerDiagnosticsAsync();
        return all.Where(d => d.Id == id).OrderBy(d => d.Location.SourceSpan.Start).ToImmutableArray();
    }

    /// <summary>Fixes the first <paramref name="id"/> diagnostic; returns the new source (null when no fix was offered).</summary>
    public static async Task<string?> FixOneAsync(CodeFixProvider provider, string source, string id)
    {
        Document document = CreateDocument(source);
        ImmutableArray<Diagnostic> diagnostics = await DiagnosticsAsync(document, id);
        Assert.NotEmpty(diagnostics);
        var actions = new List<CodeAction>();
        var context = new CodeFixContext(document, diagnostics[0], (action, _) => actions.Add(action), CancellationToken.None);
        await provider.RegisterCodeFixesAsync(context);
        if (actions.Count == 0)
        {
            return null;
        }

        return await ApplyAsync(document, actions[0]);
    }

    /// <summary>Fixes every <paramref name="id"/> diagnostic of the document in one fix-all.</summary>
    public static async Task<string> FixAllAsync(CodeFixProvider provider, string source, string id)
    {
        Document document = CreateDocument(source);
        ImmutableArray<Diagnostic> diagnostics = await DiagnosticsAsync(document, id);
        Assert.True(diagnostics.Length > 1, "fix-all needs several diagnostics");
        var actions = new List<CodeAction>();
        await provider.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostics[0], (action, _) => actions.Add(action), CancellationToken.None));
        var fixAll = new FixAllContext(document, provider, FixAllScope.Document, actions[0].EquivalenceKey, new[] { id }, new Provider(diagnostics), CancellationToken.None);
        CodeAction action = (await provider.GetFixAllProvider()!.GetFixAsync(fixAll))!;
        return await ApplyAsync(document, action);
    }

    /// <summary>Ids of the RPCGEN diagnostics left in <paramref name="source"/>.</summary>
    public static async Task<string[]> RemainingAsync(string source, string id) =>
        (await DiagnosticsAsync(CreateDocument(source), id)).Select(d => d.Id).ToArray();

    /// <summary>Compiler errors in <paramref name="source"/> (a fix must leave compiling code).</summary>
    public static string[] CompilerErrors(string source) =>
        GeneratorHarness.CreateCompilation(source).GetDiagnostics()
            .Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToArray();

    private static async Task<string> ApplyAsync(Document document, CodeAction action)
    {
        ImmutableArray<CodeActionOperation> operations = await action.GetOperationsAsync(CancellationToken.None);
        Solution changed = operations.OfType<ApplyChangesOperation>().Single().ChangedSolution;
        return (await changed.GetDocument(document.Id)!.GetTextAsync()).ToString();
    }

    private sealed class Provider : FixAllContext.DiagnosticProvider
    {
        private readonly ImmutableArray<Diagnostic> _diagnostics;

        public Provider(ImmutableArray<Diagnostic> diagnostics) => _diagnostics = diagnostics;

        public override Task<IEnumerable<Diagnostic>> GetAllDiagnosticsAsync(Project project, CancellationToken cancellationToken) => Task.FromResult<IEnumerable<Diagnostic>>(_diagnostics);

        public override Task<IEnumerable<Diagnostic>> GetDocumentDiagnosticsAsync(Document document, CancellationToken cancellationToken) => Task.FromResult<IEnumerable<Diagnostic>>(_diagnostics);

        public override Task<IEnumerable<Diagnostic>> GetProjectDiagnosticsAsync(Project project, CancellationToken cancellationToken) => Task.FromResult<IEnumerable<Diagnostic>>(Array.Empty<Diagnostic>());
    }
}

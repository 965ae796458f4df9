using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Simplification;

namespace RpcGen.CodeFixes;

/// <summary>RPCGEN001: a synchronous return type <c>T</c> becomes <c>Task&lt;T&gt;</c> (<c>void</c> becomes <c>Task</c>).</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(ReturnTaskCodeFix)), Shared]
public sealed class ReturnTaskCodeFix : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("RPCGEN001");

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        SyntaxNode? root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root?.FindNode(context.Span, getInnermostNodeForTie: true) is not TypeSyntax returnType ||
            returnType.Parent is not MethodDeclarationSyntax || returnType is RefTypeSyntax)
        {
            return; // a ref return is fixed by removing 'ref', which the user decides
        }

        // Types that are already awaitable-but-unsupported (IAsyncEnumerable<T>…) are left to the user.
        if (returnType.ToString().StartsWith("IAsyncEnumerable", System.StringComparison.Ordinal))
        {
            return;
        }

        bool isVoid = returnType is PredefinedTypeSyntax { Keyword.RawKind: (int)SyntaxKind.VoidKeyword };
        string title = isVoid ? "Return Task" : $"Return Task<{returnType}>";
        context.RegisterCodeFix(
            CodeAction.Create(title, ct => ReplaceAsync(context.Document, returnType, isVoid, ct), equivalenceKey: nameof(ReturnTaskCodeFix)),
            context.Diagnostics);
    }

    private static async Task<Document> ReplaceAsync(Document document, TypeSyntax returnType, bool isVoid, CancellationToken cancellationToken)
    {
        SyntaxNode root = (await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false))!;
        TypeSyntax task = SyntaxFactory.ParseTypeName(isVoid
                ? "global::System.Threading.Tasks.Task"
                : $"global::System.Threading.Tasks.Task<{returnType.WithoutTrivia()}>")
            .WithTriviaFrom(returnType)
            .WithAdditionalAnnotations(Simplifier.Annotation);
        return document.WithSyntaxRoot(root.ReplaceNode(returnType, task));
    }
}

/// <summary>RPCGEN005: moves a misplaced CancellationToken to the end (with <c>= default</c>).</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(MoveCancellationTokenCodeFix)), Shared]
public sealed class MoveCancellationTokenCodeFix : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("RPCGEN005");

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        Diagnostic diagnostic = context.Diagnostics[0];
        if (!diagnostic.Properties.TryGetValue("TokenProblem", out string? problem) || problem != "position")
        {
            return;
        }

        SyntaxNode? root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root?.FindToken(context.Span.Start).Parent?.FirstAncestorOrSelf<ParameterSyntax>() is not { Parent: ParameterListSyntax } parameter)
        {
            return;
        }

        context.RegisterCodeFix(
            CodeAction.Create("Move the CancellationToken to the end", ct => MoveAsync(context.Document, parameter, ct), equivalenceKey: nameof(MoveCancellationTokenCodeFix)),
            diagnostic);
    }

    private static async Task<Document> MoveAsync(Document document, ParameterSyntax parameter, CancellationToken cancellationToken)
    {
        SyntaxNode root = (await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false))!;
        var list = (ParameterListSyntax)parameter.Parent!;
        ParameterSyntax moved = parameter.WithoutTrivia();
        if (moved.Default is null)
        {
            moved = moved.WithDefault(SyntaxFactory.EqualsValueClause(
                SyntaxFactory.LiteralExpression(SyntaxKind.DefaultLiteralExpression, SyntaxFactory.Token(SyntaxKind.DefaultKeyword))));
        }

        ParameterSyntax[] others = list.Parameters.Where(p => p != parameter).Select(p => p.WithoutTrivia()).ToArray();
        return document.WithSyntaxRoot(root.ReplaceNode(list, list.WithParameters(Separated(others.Append(moved).ToArray()))));
    }

    /// <summary>Parameters separated by ", ".</summary>
    internal static SeparatedSyntaxList<ParameterSyntax> Separated(ParameterSyntax[] parameters) =>
        SyntaxFactory.SeparatedList(
            parameters,
            Enumerable.Repeat(SyntaxFactory.Token(SyntaxKind.CommaToken).WithTrailingTrivia(SyntaxFactory.Space), System.Math.Max(0, parameters.Length - 1)));
}

/// <summary>A fix that rewrites the method declaration a diagnostic points into; fix-all batches them.</summary>
public abstract class MethodDeclarationCodeFix : CodeFixProvider
{
    protected abstract string Title { get; }

    protected abstract MethodDeclarationSyntax Fix(MethodDeclarationSyntax method);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public sealed override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        SyntaxNode? root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root?.FindToken(context.Span.Start).Parent?.FirstAncestorOrSelf<MethodDeclarationSyntax>() is not { } method)
        {
            return;
        }

        context.RegisterCodeFix(CodeAction.Create(Title, ct => ApplyAsync(context.Document, method, ct), equivalenceKey: GetType().Name), context.Diagnostics);
    }

    private async Task<Document> ApplyAsync(Document document, MethodDeclarationSyntax method, CancellationToken cancellationToken)
    {
        SyntaxNode root = (await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false))!;
        return document.WithSyntaxRoot(root.ReplaceNode(method, Fix(method)));
    }
}

/// <summary>RPCGEN015: adds <c>CancellationToken cancellationToken = default</c> as the last parameter.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AddCancellationTokenCodeFix)), Shared]
public sealed class AddCancellationTokenCodeFix : MethodDeclarationCodeFix
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("RPCGEN015");

    protected override string Title => "Add a CancellationToken parameter";

    protected override MethodDeclarationSyntax Fix(MethodDeclarationSyntax method)
    {
        string name = method.ParameterList.Parameters.Any(p => p.Identifier.ValueText == "cancellationToken") ? "cancellationToken2" : "cancellationToken";
        ParameterSyntax token = SyntaxFactory.Parameter(SyntaxFactory.Identifier(name))
            .WithType(SyntaxFactory.ParseTypeName("global::System.Threading.CancellationToken").WithAdditionalAnnotations(Simplifier.Annotation).WithTrailingTrivia(SyntaxFactory.Space))
            .WithDefault(SyntaxFactory.EqualsValueClause(SyntaxFactory.LiteralExpression(SyntaxKind.DefaultLiteralExpression, SyntaxFactory.Token(SyntaxKind.DefaultKeyword))));
        ParameterSyntax[] parameters = method.ParameterList.Parameters.Select(p => p.WithoutTrivia()).Append(token).ToArray();
        return method.WithParameterList(method.ParameterList.WithParameters(MoveCancellationTokenCodeFix.Separated(parameters)));
    }
}

/// <summary>RPCGEN017: marks a retried or hedged method <c>[Idempotent]</c> (joining its last attribute list, if any).</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AddIdempotentCodeFix)), Shared]
public sealed class AddIdempotentCodeFix : MethodDeclarationCodeFix
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("RPCGEN017");

    protected override string Title => "Mark the method [Idempotent]";

    protected override MethodDeclarationSyntax Fix(MethodDeclarationSyntax method)
    {
        AttributeSyntax idempotent = SyntaxFactory.Attribute(
            SyntaxFactory.ParseName("global::RpcGen.Idempotent").WithAdditionalAnnotations(Simplifier.Annotation));
        if (method.AttributeLists.Count > 0)
        {
            AttributeListSyntax last = method.AttributeLists[method.AttributeLists.Count - 1];
            return method.ReplaceNode(last, last.WithAttributes(last.Attributes.Add(idempotent)));
        }

        AttributeListSyntax list = SyntaxFactory.AttributeList(SyntaxFactory.SingletonSeparatedList(idempotent))
            .WithLeadingTrivia(method.GetLeadingTrivia())
            .WithTrailingTrivia(SyntaxFactory.Space);
        return method.WithoutLeadingTrivia().WithAttributeLists(SyntaxFactory.SingletonList(list));
    }
}

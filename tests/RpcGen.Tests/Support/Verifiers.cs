using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;
using RpcGen.Analyzers;

namespace RpcGen.Tests.Support;

/// <summary>
/// RpcGen's analyzer and code fixes under Microsoft.CodeAnalysis.Testing: source written with its markup
/// (<c>{|RPCGEN001:text|}</c> marks exactly the span a diagnostic must cover), compiled against the running framework
/// and the RpcGen runtime (nothing downloaded), with nullable on and warnings as errors, as users build.
/// RPCGEN015 (hidden: a lightbulb offering a CancellationToken) is checked only where a test marks it.
/// </summary>
public static class Verifiers
{
    /// <summary>Every RPCGEN diagnostic must be marked, every mark reported, and the code must compile.</summary>
    public static Task VerifyAnalyzerAsync(string markup)
    {
        var test = new AnalyzerTest { TestCode = markup };
        Configure(test, markup);
        return test.RunAsync();
    }

    /// <summary>
    /// Applies <typeparamref name="TFix"/> to the marked diagnostics of <paramref name="markup"/> (one at a time, and
    /// as fix-all in document, project and solution scope) and expects <paramref name="fixedMarkup"/>, which must
    /// compile and carry only the diagnostics it marks. With <paramref name="fixedMarkup"/> equal to
    /// <paramref name="markup"/>, no fix may change the code.
    /// </summary>
    public static Task VerifyCodeFixAsync<TFix>(string markup, string fixedMarkup)
        where TFix : CodeFixProvider, new()
    {
        var test = new CodeFixTest<TFix> { TestCode = markup, FixedCode = fixedMarkup };
        Configure(test, markup + fixedMarkup);
        return test.RunAsync();
    }

    /// <summary>The first <paramref name="id"/> diagnostic's message, for tests that check wording.</summary>
    public static async Task<string> MessageAsync(string source, string id)
    {
        ImmutableArray<Diagnostic> diagnostics = await GeneratorHarness.CreateCompilation(source)
            .WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new RpcServiceAnalyzer()))
            .GetAnalyzerDiagnosticsAsync();
        return diagnostics.First(d => d.Id == id).GetMessage();
    }

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(() =>
        GeneratorHarness.References(static _ => false));

    private static void Configure<TVerifier>(AnalyzerTest<TVerifier> test, string allMarkup)
        where TVerifier : IVerifier, new()
    {
        // No reference-assembly package: the test compiles against the assemblies this process runs on.
        test.ReferenceAssemblies = new ReferenceAssemblies("net10.0");
        test.TestState.AdditionalReferences.AddRange(s_references.Value);
        if (!allMarkup.Contains("RPCGEN015", StringComparison.Ordinal))
        {
            test.DisabledDiagnostics.Add("RPCGEN015");
        }

        test.SolutionTransforms.Add(static (solution, projectId) =>
        {
            Project project = solution.GetProject(projectId)!;
            var options = (CSharpCompilationOptions)project.CompilationOptions!;
            options = options
                .WithNullableContextOptions(NullableContextOptions.Enable)
                .WithGeneralDiagnosticOption(ReportDiagnostic.Error)
                .WithSpecificDiagnosticOptions(options.SpecificDiagnosticOptions
                    .SetItem("CS1701", ReportDiagnostic.Suppress) // implementation assemblies, not reference packs
                    .SetItem("CS1702", ReportDiagnostic.Suppress));
            return solution
                .WithProjectCompilationOptions(projectId, options)
                .WithProjectParseOptions(projectId, GeneratorHarness.ParseOptions);
        });
    }

    private sealed class AnalyzerTest : CSharpAnalyzerTest<RpcServiceAnalyzer, DefaultVerifier>
    {
    }

    private sealed class CodeFixTest<TFix> : CSharpCodeFixTest<RpcServiceAnalyzer, TFix, DefaultVerifier>
        where TFix : CodeFixProvider, new()
    {
    }
}

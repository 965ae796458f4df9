using System.Collections.Immutable;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using RpcGen.Analyzers;
using Xunit;

namespace RpcGen.Tests.Support;

/// <summary>
/// Runs the analyzers on source written with Microsoft.CodeAnalysis.Testing's markup: <c>{|RPCGEN001:text|}</c> says
/// that exactly that span must carry that id. Every RPCGEN diagnostic reported must be marked, and every mark reported.
/// </summary>
public static partial class AnalyzerHarness
{
    public static async Task VerifyAsync(string markup)
    {
        (string source, List<(string Id, TextSpan Span)> expected) = Parse(markup);
        var compilation = GeneratorHarness.CreateCompilation(source);
        ImmutableArray<Diagnostic> diagnostics = await compilation
            .WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new RpcServiceAnalyzer()))
            .GetAnalyzerDiagnosticsAsync();
        // RPCGEN015 (hidden: a lightbulb offering a CancellationToken) is checked only where a test marks it.
        bool checkHidden = markup.Contains("RPCGEN015", StringComparison.Ordinal);
        var actual = diagnostics
            .Where(d => d.Id.StartsWith("RPCGEN", StringComparison.Ordinal) && (checkHidden || d.Id != "RPCGEN015"))
            .Select(d => (d.Id, d.Location.SourceSpan, Text: source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length), Message: d.GetMessage()))
            .ToList();

        var report = new StringBuilder();
        foreach ((string id, TextSpan span) in expected)
        {
            if (!actual.Any(a => a.Id == id && a.SourceSpan == span))
            {
                report.AppendLine($"missing {id} at '{source.Substring(span.Start, span.Length)}' ({span})");
            }
        }

        foreach (var a in actual)
        {
            if (!expected.Any(e => e.Id == a.Id && e.Span == a.SourceSpan))
            {
                report.AppendLine($"unexpected {a.Id} at '{a.Text}' ({a.SourceSpan}): {a.Message}");
            }
        }

        Assert.True(report.Length == 0, report.ToString());
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }

    /// <summary>The first RPCGEN diagnostic's message, for tests that check wording.</summary>
    public static async Task<string> MessageAsync(string source, string id)
    {
        var compilation = GeneratorHarness.CreateCompilation(source);
        ImmutableArray<Diagnostic> diagnostics = await compilation
            .WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new RpcServiceAnalyzer()))
            .GetAnalyzerDiagnosticsAsync();
        return diagnostics.First(d => d.Id == id).GetMessage();
    }

    private static (string Source, List<(string Id, TextSpan Span)> Expected) Parse(string markup)
    {
        var expected = new List<(string, TextSpan)>();
        var source = new StringBuilder();
        int index = 0;
        foreach (Match match in Marker().Matches(markup))
        {
            source.Append(markup, index, match.Index - index);
            int start = source.Length;
            source.Append(match.Groups["text"].Value);
            expected.Add((match.Groups["id"].Value, new TextSpan(start, match.Groups["text"].Value.Length)));
            index = match.Index + match.Length;
        }

        source.Append(markup, index, markup.Length - index);
        return (source.ToString(), expected);
    }

    [GeneratedRegex(@"\{\|(?<id>[A-Z0-9]+):(?<text>.*?)\|\}", RegexOptions.Singleline)]
    private static partial Regex Marker();
}

using Microsoft.CodeAnalysis;

namespace RpcGen.Generator;

/// <summary>
/// What the generator itself reports: only what blocks emission. Interface-shape rules live in the analyzers.
/// </summary>
internal static class DiagnosticDescriptors
{
    /// <summary>Each id has a page under docs/diagnostics/ in the repository.</summary>
    private const string HelpLinkBase = "https://github.com/rpcgen/rpcgen/blob/main/docs/diagnostics/";

    public static readonly DiagnosticDescriptor LanguageVersionTooLow = new(
        id: "RPCGEN100",
        title: "RpcGen needs C# 9 or later",
        messageFormat: "No RPC code was generated for '{0}': RpcGen's generated code needs C# 9 or later. Remove <LangVersion> from the project or set it to 9 or higher.",
        category: "RpcGen.Generator",
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        helpLinkUri: HelpLinkBase + "RPCGEN100.md");
}

using Microsoft.CodeAnalysis;

namespace RpcGen.Generator;

/// <summary>
/// What the generator itself reports: only what blocks emission. Interface-shape rules live in the analyzers.
/// </summary>
internal static class DiagnosticDescriptors
{
    public static readonly DiagnosticDescriptor LanguageVersionTooLow = new(
        id: "RPCGEN100",
        title: "RpcGen needs C# 9 or later",
        messageFormat: "No RPC code was generated for '{0}': RpcGen's generated code needs C# 9 or later. Remove <LangVersion> from the project or set it to 9 or higher.",
        category: "RpcGen.Generator",
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        // No help link (RpcGen has no public web address); the page ships in the package under docs/diagnostics/.
        description: "The causes, examples and fixes: docs/diagnostics/RPCGEN100.md in the RpcGen package (and repository).");
}

using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using RpcGen.Generator.Model;

namespace RpcGen.Generator;

/// <summary>
/// Emits a client proxy, a server dispatcher and a descriptor (with a module-initializer registration) for every
/// interface marked <c>[RpcGen.RpcService]</c>. Pipeline: find targets → parse into equatable specs → emit.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class RpcGenerator : IIncrementalGenerator
{
    internal const string RpcServiceAttribute = Shared.RpcShapes.RpcServiceAttribute;

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<ServiceSpec> services = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                RpcServiceAttribute,
                predicate: static (node, _) => node is InterfaceDeclarationSyntax,
                transform: static (ctx, cancellationToken) => Parser.Parse(ctx, cancellationToken))
            .Where(static spec => spec is not null)
            .Select(static (spec, _) => spec!)
            .WithTrackingName(TrackingNames.ServiceSpecs);

        // Generated code needs C# 9 (module initializers, static lambdas); only the version is carried, not the compilation.
        IncrementalValueProvider<bool> languageSupported = context.CompilationProvider
            .Select(static (compilation, _) =>
                compilation is CSharpCompilation csharp && csharp.LanguageVersion >= LanguageVersion.CSharp9)
            .WithTrackingName(TrackingNames.LanguageVersion);

        IncrementalValuesProvider<(ServiceSpec Service, bool Supported)> withLanguage = services
            .Combine(languageSupported)
            .WithTrackingName(TrackingNames.ServicesWithLanguage);

        context.RegisterImplementationSourceOutput(withLanguage, static (spc, item) => Emitter.Emit(spc, item.Service, item.Supported));
    }
}

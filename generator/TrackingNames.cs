namespace RpcGen.Generator;

/// <summary>Names of the incremental pipeline's steps, so tests can check what was cached.</summary>
internal static class TrackingNames
{
    public const string ServiceSpecs = nameof(ServiceSpecs);
    public const string LanguageVersion = nameof(LanguageVersion);
    public const string ServicesWithLanguage = nameof(ServicesWithLanguage);
}

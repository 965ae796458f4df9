using System.Reflection;

namespace RpcGen.Tests.Support;

/// <summary>
/// Where the repository's files are on this machine. <c>[CallerFilePath]</c> alone is not enough: a CI build
/// (<c>CI=true</c> sets <c>ContinuousIntegrationBuild</c>) maps source paths to <c>/_/</c> for deterministic output, so
/// the test project records its own directory at build time and mapped paths are resolved against it.
/// </summary>
internal static class TestPaths
{
    private const string MappedRoot = "/_/";

    public static string RepositoryRoot { get; } = Path.GetFullPath(Path.Combine(ProjectDirectory(), "..", ".."));

    /// <summary>The real path of a source file named by <c>[CallerFilePath]</c>, mapped or not.</summary>
    public static string Resolve(string callerFilePath)
    {
        if (callerFilePath.StartsWith(MappedRoot, StringComparison.Ordinal))
        {
            return Path.Combine(RepositoryRoot, callerFilePath.Substring(MappedRoot.Length).Replace('/', Path.DirectorySeparatorChar));
        }

        return callerFilePath;
    }

    private static string ProjectDirectory()
    {
        foreach (AssemblyMetadataAttribute attribute in typeof(TestPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>())
        {
            if (attribute.Key == "RpcGenTestProjectDirectory" && attribute.Value is { Length: > 0 } value)
            {
                return value;
            }
        }

        throw new InvalidOperationException("The test assembly lacks its RpcGenTestProjectDirectory metadata (see RpcGen.Tests.csproj).");
    }
}

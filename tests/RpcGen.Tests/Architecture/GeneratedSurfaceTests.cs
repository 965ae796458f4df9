using System.ComponentModel;
using System.Reflection;
using System.Text.RegularExpressions;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Architecture;

/// <summary>
/// The runtime surface generated code calls, pinned: every <c>global::RpcGen…</c> name in the generated snapshots
/// (which the snapshot tests hold equal to the generator's output) resolves to one of the types listed here, and the
/// types only generated code should touch are hidden from IntelliSense. A new dependency of generated code is then a
/// deliberate change of this list and of docs/architecture.md ("The generated-code surface").
/// </summary>
public sealed class GeneratedSurfaceTests
{
    /// <summary>Hidden ([EditorBrowsable(Never)]): for generated code only.</summary>
    private static readonly string[] s_hidden =
    {
        "RpcGen.Client.RpcCallInvoker", "RpcGen.Client.RpcClientMethod`1", "RpcGen.Client.RpcClientMethod", "RpcGen.Client.RpcProxyFactory`1",
        "RpcGen.Server.RpcServiceDispatcher", "RpcGen.Server.RpcDispatcherContext", "RpcGen.Server.RpcServerCall", "RpcGen.Server.RpcDispatcherFactory`1",
        "RpcGen.Serialization.IRpcArguments", "RpcGen.Serialization.IRpcResumableArguments`1",
        "RpcGen.Serialization.RpcArgumentReader", "RpcGen.Serialization.RpcJson", "RpcGen.Balancing.RpcHash",
    };

    /// <summary>Public API that generated code also uses (descriptors, policies, errors).</summary>
    private static readonly string[] s_public =
    {
        "RpcGen.Descriptors.RpcServiceDescriptor", "RpcGen.Descriptors.RpcMethodDescriptor", "RpcGen.Descriptors.RpcParameterDescriptor",
        "RpcGen.Descriptors.RpcReturnKind", "RpcGen.Descriptors.RpcServiceRegistry", "RpcGen.Descriptors.RpcAuthorization",
        "RpcGen.Descriptors.RpcStreamingKind", "RpcGen.RpcStreamingPolicy", "RpcGen.RpcCompressionPolicy", "RpcGen.RpcCompression",
        "RpcGen.Resilience.RpcRetryPolicy", "RpcGen.Resilience.RpcHedgingPolicy", "RpcGen.Resilience.RpcCircuitBreakerPolicy",
        "RpcGen.RpcException", "RpcGen.RpcStatusCode", "RpcGen.LoadBalanceStrategy",
        "RpcGen.Server.RpcServiceActivator`1",
    };

    [Fact]
    public void GeneratedCode_UsesOnlyTheListedSurface_AndTheHiddenPartIsHidden()
    {
        Assembly runtime = typeof(RpcClient).Assembly;
        var used = new SortedSet<string>(StringComparer.Ordinal);
        string snapshots = Path.Combine(TestPaths.RepositoryRoot, "tests", "RpcGen.Tests", "Generator", "Snapshots");
        foreach (string file in Directory.EnumerateFiles(snapshots, "*.verified.cs"))
        {
            foreach (Match name in Regex.Matches(File.ReadAllText(file), @"global::(RpcGen(?:\.[A-Za-z_][A-Za-z0-9_]*)+)"))
            {
                used.Add(Resolve(runtime, name.Groups[1].Value) ?? throw new Xunit.Sdk.XunitException($"{Path.GetFileName(file)}: '{name.Value}' is not a runtime type"));
            }
        }

        Assert.NotEmpty(used);
        var listed = s_hidden.Concat(s_public).ToHashSet(StringComparer.Ordinal);
        Assert.True(used.IsSubsetOf(listed), "generated code uses runtime types not listed here (add them, and to docs/architecture.md): " + string.Join(", ", used.Except(listed)));
        foreach (string hidden in s_hidden)
        {
            Type type = runtime.GetType(hidden, throwOnError: true)!;
            Assert.True(type.GetCustomAttribute<EditorBrowsableAttribute>()?.State == EditorBrowsableState.Never, $"{hidden} is for generated code and should be [EditorBrowsable(Never)]");
        }
    }

    /// <summary>The type a qualified name starts with (the rest is members: <c>RpcReturnKind.Task</c>, <c>RpcHash.Of</c>).</summary>
    private static string? Resolve(Assembly runtime, string name)
    {
        string[] parts = name.Split('.');
        for (int length = parts.Length; length >= 2; length--)
        {
            string candidate = string.Join(".", parts.Take(length));
            foreach (string suffix in new[] { string.Empty, "`1" })
            {
                if (runtime.GetType(candidate + suffix) is not null)
                {
                    return candidate + suffix;
                }
            }
        }

        return null;
    }
}

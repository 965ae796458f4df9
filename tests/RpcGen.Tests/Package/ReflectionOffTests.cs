using System.Diagnostics;
using System.Reflection;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Package;

/// <summary>
/// The Native AOT path without publishing: tests/RpcGen.AotSmoke is built with reflection-based JSON off
/// (JsonSerializerIsReflectionEnabledByDefault=false, as trimming and Native AOT set it) and run in its own process: a
/// round trip through a service that names its JSON context, and RpcGen's own error for one that names none. CI also
/// publishes it with PublishAot=true and runs the native binary.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class ReflectionOffTests
{
    [Fact]
    public async Task ServicesWithANamedContext_RoundTrip_WithReflectionBasedJsonOff()
    {
        string configuration = typeof(ReflectionOffTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "RpcGenConfiguration").Value!;
        string app = Path.Combine(TestPaths.RepositoryRoot, "tests", "RpcGen.AotSmoke", "bin", configuration, "net10.0", "RpcGen.AotSmoke.dll");
        Assert.True(File.Exists(app), $"{app} was not built");

        var start = new ProcessStartInfo("dotnet", new[] { app }) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        string stdout = await output, stderr = await error;
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {stdout}{stderr}");
        Assert.Contains("AOT round trip: ok", stdout);
    }
}

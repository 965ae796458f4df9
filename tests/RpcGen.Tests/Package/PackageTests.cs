using System.Diagnostics;
using System.IO.Compression;
using RpcGen.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RpcGen.Tests.Package;

/// <summary>
/// The four packages, packed once per test run into one feed with one version. Every package test shares them: packing
/// is the slow part of these tests. The version is given as PackageVersion, so the assemblies the suite built keep
/// theirs and the packs reuse that build (<see cref="PackageTests.GivenVersion_IsThePackageVersion"/> checks Version).
/// </summary>
public sealed class PackedPackages : IDisposable
{
    /// <summary>A version no public feed has, so a restore can only find the packages packed here.</summary>
    public string Version { get; } = "1.2.3-packagetest." + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture);

    public string Feed { get; } = Path.Combine(Path.GetTempPath(), "rpcgen-feed-" + Guid.NewGuid().ToString("n"));

    private readonly Lazy<string> _log;

    public PackedPackages() => _log = new Lazy<string>(PackAll, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Packs on first use; the log of the four packs.</summary>
    public string EnsurePacked() => _log.Value;

    private string PackAll()
    {
        var log = new System.Text.StringBuilder();
        foreach (string project in new[]
        {
            "runtime/RpcGen.csproj", "hosting/RpcGen.Hosting.csproj", "etcd/RpcGen.Etcd.csproj", "dns/RpcGen.Dns.csproj",
            "sqlite/RpcGen.Sqlite.csproj", "redis/RpcGen.Redis.csproj", "aspnetcore/RpcGen.AspNetCore.csproj", "cli/RpcGen.Cli.csproj",
        })
        {
            (int exit, string output) = PackageTests.RunDotnet(TestPaths.RepositoryRoot, "pack", project, "-c", "Release", "-o", Feed, "-p:PackageVersion=" + Version);
            log.AppendLine(output);
            if (exit != 0)
            {
                throw new InvalidOperationException($"dotnet pack {project} failed:\n{output}");
            }
        }

        return log.ToString();
    }

    public string Package(string id) =>
        Directory.GetFiles(Feed, id + ".*.nupkg").Single(f => !f.EndsWith(".snupkg", StringComparison.Ordinal) && Path.GetFileName(f) == $"{id}.{Version}.nupkg");

    public void Dispose()
    {
        try
        {
            Directory.Delete(Feed, recursive: true);
        }
        catch (IOException)
        {
            // Never packed, or left for the OS to clean.
        }
    }
}

/// <summary>
/// RpcGen the way a user meets it: the packed packages in a local feed, a fresh console project that references only
/// them, built with warnings as errors and run. Restores into a private packages folder, so a stale copy in the
/// machine's cache can never stand in for the package under test.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class PackageTests : IClassFixture<PackedPackages>, IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly PackedPackages _packages;
    private readonly string _work = Path.Combine(Path.GetTempPath(), "rpcgen-package-" + Guid.NewGuid().ToString("n"));

    public PackageTests(ITestOutputHelper output, PackedPackages packages)
    {
        _output = output;
        _packages = packages;
    }

    /// <summary>Restores the consumer from the feed into its private packages folder, then builds it.</summary>
    private (int ExitCode, string Output) RestoreAndBuild(string app)
    {
        (int restore, string restoreOutput) = Dotnet(app, "restore", "--packages", Path.Combine(_work, "packages"));
        Assert.True(restore == 0, restoreOutput);
        return Dotnet(app, "build", "--no-restore", "-c", "Release");
    }

    private (int ExitCode, string Output) Dotnet(string workingDirectory, params string[] arguments)
    {
        (int exit, string output) = RunDotnet(workingDirectory, arguments);
        _output.WriteLine($"$ dotnet {string.Join(' ', arguments)} (exit {exit})");
        return (exit, output);
    }

    internal static (int ExitCode, string Output) RunDotnet(string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} took more than 5 minutes.");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Packs the four packages once for the whole run; the path of <paramref name="id"/>'s package.</summary>
    private string Packed(string id = "RpcGen")
    {
        _packages.EnsurePacked();
        return _packages.Package(id);
    }

    private string PackageVersion(string project, params string[] properties)
    {
        (int exit, string output) = Dotnet(TestPaths.RepositoryRoot, new[] { "msbuild", project, "-getProperty:PackageVersion" }.Concat(properties).ToArray());
        Assert.True(exit == 0, output);
        return output.Trim();
    }

    [Fact]
    public void LocalPackWithoutAVersion_GetsAPrereleaseVersionOfThisSecond()
    {
        // Unique per pack (to the second), so a consumer never restores a stale copy of the same version.
        string version = PackageVersion("runtime/RpcGen.csproj");
        System.Text.RegularExpressions.Match match = System.Text.RegularExpressions.Regex.Match(version, @"^0\.1\.0-dev\.(\d{14})$");
        Assert.True(match.Success, version);
        DateTime stamp = DateTime.ParseExact(match.Groups[1].Value, "yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal);
        Assert.InRange(stamp, DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow.AddMinutes(1));
    }

    [Theory]
    [InlineData("runtime/RpcGen.csproj")]
    [InlineData("hosting/RpcGen.Hosting.csproj")]
    [InlineData("etcd/RpcGen.Etcd.csproj")]
    [InlineData("dns/RpcGen.Dns.csproj")]
    [InlineData("sqlite/RpcGen.Sqlite.csproj")]
    [InlineData("redis/RpcGen.Redis.csproj")]
    [InlineData("aspnetcore/RpcGen.AspNetCore.csproj")]
    [InlineData("cli/RpcGen.Cli.csproj")]
    public void GivenVersion_IsThePackageVersion(string project)
    {
        Assert.Equal("1.2.3", PackageVersion(project, "-p:Version=1.2.3"));
        Assert.Equal("0.1.0-rc.1", PackageVersion(project, "-p:VersionSuffix=rc.1"));
    }

    private string Consumer(string name, string program, string extraProperties = "", string extraItems = "", bool referenceCore = true)
    {
        string directory = Path.Combine(_work, name);
        Directory.CreateDirectory(directory);
        string version = _packages.Version;
        File.WriteAllText(Path.Combine(directory, name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                {extraProperties}
              </PropertyGroup>
              <ItemGroup>
                {(referenceCore ? $"<PackageReference Include=\"RpcGen\" Version=\"{version}\" />" : "")}
                {extraItems}
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(directory, "Program.cs"), program);
        // The machine's feeds stay (no <clear/>); the folder of the package under test is added.
        File.WriteAllText(Path.Combine(directory, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="rpcgen-under-test" value="{_packages.Feed}" />
              </packageSources>
            </configuration>
            """);
        return directory;
    }

    // Only "using RpcGen;": RpcServer, RpcClient (RpcGen.Server, RpcGen.Client) come from the package's implicit usings.
    /// <summary>The service the satellite packages' consumer programs serve and call.</summary>
    private const string MinimalShop = """

        namespace Shop
        {
            [RpcService("calc")]
            public interface ICalculator
            {
                Task<int> AddAsync(int a, int b, CancellationToken ct = default);
            }

            public sealed class Calculator : ICalculator
            {
                public Task<int> AddAsync(int a, int b, CancellationToken ct = default) => Task.FromResult(a + b);
            }
        }
        """;

    private const string GoodProgram = """
        using RpcGen;

        await using var server = new RpcServer();
        server.Map<Shop.ICalculator>(new Shop.Calculator());
        await server.StartAsync();
        var options = new RpcClientOptions();
        options.Endpoints.Add(server.Endpoints[0]);
        await using var client = new RpcClient(options);
        Shop.ICalculator calc = client.CreateProxy<Shop.ICalculator>();
        int sum = await calc.AddAsync(20, 22);
        string user = await calc.WhoAsync("ada");
        Console.WriteLine($"sum={sum} user={user}");
        return sum == 42 && user == "ada" ? 0 : 1;

        namespace Shop
        {
            [RpcService("calc"), Timeout(5000), LoadBalance(LoadBalanceStrategy.PowerOfTwoChoices)]
            public interface ICalculator
            {
                Task<int> AddAsync(int a, int b, CancellationToken ct = default);

                [LoadBalance(LoadBalanceStrategy.ConsistentHash)]
                ValueTask<string> WhoAsync([HashKey] string name);
            }

            public sealed class Calculator : ICalculator
            {
                public Task<int> AddAsync(int a, int b, CancellationToken ct = default) => Task.FromResult(a + b);

                public ValueTask<string> WhoAsync(string name) => new(name);
            }
        }
        """;

    [Fact]
    [Trait("Category", "Package")]
    public void Package_HoldsRuntimeForBothFrameworks_AndGeneratorAsAnalyzer()
    {
        string package = Packed();
        using ZipArchive zip = ZipFile.OpenRead(package);
        string[] entries = zip.Entries.Select(e => e.FullName).ToArray();
        Assert.Contains("lib/net8.0/RpcGen.dll", entries);
        Assert.Contains("lib/net10.0/RpcGen.dll", entries);
        Assert.Contains("analyzers/dotnet/cs/RpcGen.Generator.dll", entries);
        Assert.Contains("analyzers/dotnet/cs/RpcGen.Analyzers.dll", entries);
        Assert.Contains("analyzers/dotnet/roslyn4.14/cs/RpcGen.CodeFixes.dll", entries);
        Assert.Contains("README.md", entries);
        Assert.Contains("build/RpcGen.props", entries); // implicit usings for direct consumers
        Assert.Contains("buildTransitive/RpcGen.props", entries); // and for those of a satellite package
        foreach (string page in Directory.GetFiles(Path.Combine(TestPaths.RepositoryRoot, "docs", "diagnostics"), "*.md"))
        {
            Assert.Contains("docs/diagnostics/" + Path.GetFileName(page), entries); // the page each diagnostic names
        }
        Assert.DoesNotContain(entries, e => e.Contains("Microsoft.CodeAnalysis", StringComparison.Ordinal));
        using var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
        string text = nuspec.ReadToEnd();
        Assert.Contains("<license type=\"expression\">MIT</license>", text, StringComparison.Ordinal);
        Assert.DoesNotContain("RpcGen.Generator", text, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.ChangeExtension(package, ".snupkg")), "no symbols package");
    }

    [Fact]
    [Trait("Category", "Package")]
    public void FreshProject_ReferencingOnlyThePackage_BuildsWithoutWarningsAndCalls()
    {
        Packed();
        string app = Consumer("GoodApp", GoodProgram);
        (int build, string buildOutput) = RestoreAndBuild(app);
        Assert.True(build == 0, buildOutput);
        Assert.Contains("0 Warning(s)", buildOutput, StringComparison.Ordinal);
        (int run, string runOutput) = Dotnet(app, "run", "--no-build", "-c", "Release");
        Assert.True(run == 0, runOutput);
        Assert.Contains("sum=42 user=ada", runOutput, StringComparison.Ordinal);
        // The core package brings none of the satellites' heavy dependencies (etcd's gRPC client, the host).
        string[] shipped = Directory.GetFiles(Path.Combine(app, "bin", "Release", "net10.0"), "*.dll").Select(Path.GetFileName).ToArray()!;
        Assert.DoesNotContain(shipped, f => f!.StartsWith("Grpc.", StringComparison.Ordinal) || f.StartsWith("Google.", StringComparison.Ordinal) || f.StartsWith("dotnet-etcd", StringComparison.Ordinal) || f.StartsWith("Microsoft.Extensions.Hosting", StringComparison.Ordinal));
    }

    [Fact]
    [Trait("Category", "Package")]
    public void ProjectThatCannotUseTheGenerator_FailsTheBuildWithItsDiagnosticId()
    {
        Packed();
        string app = Consumer("OldLanguageApp", """
            using RpcGen;
            namespace Old
            {
                [RpcService] public interface IOld { System.Threading.Tasks.Task RunAsync(); }
                public static class Program { public static int Main() => 0; }
            }
            """, "<LangVersion>8.0</LangVersion><ImplicitUsings>disable</ImplicitUsings><Nullable>disable</Nullable>");
        (int build, string buildOutput) = RestoreAndBuild(app);
        Assert.NotEqual(0, build);
        Assert.Contains("RPCGEN100", buildOutput, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Package")]
    public void ProjectWithABadInterface_FailsTheBuildWithTheAnalyzersId()
    {
        Packed();
        string app = Consumer("BadShapeApp", """
            using RpcGen;
            return 0;
            [RpcService] public interface IBad { int Add(int a, int b); }
            """);
        (int build, string buildOutput) = RestoreAndBuild(app);
        Assert.NotEqual(0, build);
        Assert.Contains("error RPCGEN001", buildOutput, StringComparison.Ordinal);
        Assert.Contains("return Task<int> instead", buildOutput, StringComparison.Ordinal);
    }

    /// <summary>
    /// Checks a satellite package: both frameworks, no analyzers of its own, and a dependency on the RpcGen packed with
    /// it that keeps RpcGen's generator, analyzers and build props (a project may reference only the satellite).
    /// </summary>
    private void CheckSatellite(string id)
    {
        using ZipArchive zip = ZipFile.OpenRead(Packed(id));
        Assert.Contains(zip.Entries, e => e.FullName == $"lib/net8.0/{id}.dll");
        Assert.Contains(zip.Entries, e => e.FullName == $"lib/net10.0/{id}.dll");
        Assert.DoesNotContain(zip.Entries, e => e.FullName.StartsWith("analyzers/", StringComparison.Ordinal)); // the generator ships once, in RpcGen
        using var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
        string text = nuspec.ReadToEnd();
        Assert.Contains($"<version>{_packages.Version}</version>", text, StringComparison.Ordinal);
        // Per framework, and never exclude="Build,Analyzers", which would leave a project without the generator.
        string[] dependencies = System.Text.RegularExpressions.Regex.Matches(text, "<dependency id=\"RpcGen\" [^>]*/>").Select(m => m.Value).ToArray();
        Assert.Equal(2, dependencies.Length);
        Assert.All(dependencies, d => Assert.Contains($"version=\"{_packages.Version}\"", d, StringComparison.Ordinal));
        Assert.All(dependencies, d => Assert.DoesNotContain("exclude", d, StringComparison.Ordinal));
        Assert.DoesNotContain("AspNetCore", text, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Package")]
    public void HostingPackage_WithTheCorePackage_HostsAServerAndResolvesAClient()
    {
        Packed();
        CheckSatellite("RpcGen.Hosting");
        string app = Consumer("HostedApp", """
            using Microsoft.Extensions.DependencyInjection;
            using Microsoft.Extensions.Hosting;
            using RpcGen;
            using RpcGen.Hosting;

            HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
            builder.Configuration["RpcGen:Server:Listen:0"] = "127.0.0.1:0";
            builder.Services.AddRpcServer().MapService<Shop.ICalculator, Shop.Calculator>();
            using IHost host = builder.Build();
            await host.StartAsync();
            string address = host.Services.GetRequiredService<RpcServerHost>().Server!.Endpoints[0].ToString();

            var services = new ServiceCollection();
            services.AddRpcClient<Shop.ICalculator>(o => o.Endpoints.Add(RpcEndpoint.Parse(address)));
            await using ServiceProvider provider = services.BuildServiceProvider();
            int sum = await provider.GetRequiredService<Shop.ICalculator>().AddAsync(20, 22);
            Console.WriteLine($"hosted sum={sum}");
            await host.StopAsync();
            return sum == 42 ? 0 : 1;
            """ + MinimalShop, extraItems: $"""
            <PackageReference Include="RpcGen.Hosting" Version="{_packages.Version}" />
            <PackageReference Include="Microsoft.Extensions.Hosting" Version="10.0.13" />
            """, referenceCore: false);
        (int build, string buildOutput) = RestoreAndBuild(app);
        Assert.True(build == 0, buildOutput);
        Assert.Contains("0 Warning(s)", buildOutput, StringComparison.Ordinal);
        (int run, string runOutput) = Dotnet(app, "run", "--no-build", "-c", "Release");
        Assert.True(run == 0, runOutput);
        Assert.Contains("hosted sum=42", runOutput, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Package")]
    public void AspNetCorePackage_AloneServesAServiceOverHttp()
    {
        Packed();
        using (ZipArchive zip = ZipFile.OpenRead(Packed("RpcGen.AspNetCore")))
        {
            Assert.Contains(zip.Entries, e => e.FullName == "lib/net10.0/RpcGen.AspNetCore.dll");
            using var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
            string text = nuspec.ReadToEnd();
            Assert.Contains($"<dependency id=\"RpcGen.Hosting\" version=\"{_packages.Version}\"", text, StringComparison.Ordinal);
            Assert.Contains("<frameworkReference name=\"Microsoft.AspNetCore.App\"", text, StringComparison.Ordinal);
        }

        string app = Consumer("GatewayApp", """
            using Microsoft.AspNetCore.Builder;
            using Microsoft.AspNetCore.Hosting;
            using Microsoft.Extensions.DependencyInjection;
            using RpcGen.AspNetCore;
            using RpcGen.Hosting;

            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(args);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Services.AddRpcServer().MapService<Shop.ICalculator, Shop.Calculator>();
            WebApplication web = builder.Build();
            web.MapRpcGateway<Shop.ICalculator>();
            await web.StartAsync();
            using var http = new HttpClient { BaseAddress = new Uri(web.Urls.First()) };
            var arguments = new StringContent("{\"a\":20,\"b\":22}", System.Text.Encoding.UTF8, "application/json");
            HttpResponseMessage response = await http.PostAsync("/calc/Add", arguments);
            string body = await response.Content.ReadAsStringAsync();
            Console.WriteLine($"http sum={body}");
            await web.StopAsync();
            return body == "42" ? 0 : 1;
            """ + MinimalShop,
            extraItems: $"""<PackageReference Include="RpcGen.AspNetCore" Version="{_packages.Version}" />""", referenceCore: false);
        (int build, string buildOutput) = RestoreAndBuild(app);
        Assert.True(build == 0, buildOutput);
        Assert.Contains("0 Warning(s)", buildOutput, StringComparison.Ordinal);
        (int run, string runOutput) = Dotnet(app, "run", "--no-build", "-c", "Release");
        Assert.True(run == 0, runOutput);
        Assert.Contains("http sum=42", runOutput, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Package")]
    public async Task ToolPackage_InstallsFromTheFeed_AndCallsALiveServer()
    {
        Packed();
        Directory.CreateDirectory(_work);
        string tools = Path.Combine(_work, "tools");
        (int install, string installOutput) =
            Dotnet(_work, "tool", "install", "RpcGen.Cli", "--tool-path", tools, "--add-source", _packages.Feed, "--version", _packages.Version);
        Assert.True(install == 0, installOutput);
        string rpcgen = Path.Combine(tools, "rpcgen");
        Assert.True(File.Exists(rpcgen), $"no rpcgen command in {tools}");

        await using var server = new RpcServer(new RpcServerOptions { EnableDescribe = true });
        server.Map<ICalculator>(new Calculator("tool"));
        await server.StartAsync();
        string address = server.Endpoints[0].ToString();
        (int list, string listed) = Run(rpcgen, "list", address);
        Assert.True(list == 0, listed);
        Assert.Contains("\"calc\"", listed, StringComparison.Ordinal);
        (int call, string sum) = Run(rpcgen, "call", address, "calc/Add", "{\"a\":20,\"b\":22}");
        Assert.True(call == 0, sum);
        Assert.Equal("42", sum.Trim());
        (int failed, string error) = Run(rpcgen, "call", address, "calc/Nope", "{}");
        Assert.Equal((int)RpcStatusCode.NotFound, failed); // the exit code follows the status code
        Assert.Contains("ERROR:", error, StringComparison.Ordinal);
    }

    private static (int ExitCode, string Output) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), $"{program} {string.Join(' ', arguments)} did not end");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    [Trait("Category", "Package")]
    public async Task EtcdPackage_WithTheCorePackage_RegistersAServerAndDiscoversIt()
    {
        await using EtcdServer etcd = await EtcdServer.StartAsync();
        Packed();
        CheckSatellite("RpcGen.Etcd");
        string app = Consumer("EtcdApp", """
            using RpcGen;
            using RpcGen.Etcd;

            var etcd = new EtcdOptions { Servers = { new Uri(args[0]) }, Prefix = "/package-test/" };
            await using var server = new RpcServer();
            server.Map<Shop.ICalculator>(new Shop.Calculator());
            await server.StartAsync();
            await using EtcdRegistration registration = await EtcdRegistration.RegisterAsync(etcd, "calc", server.Endpoints);
            await using var source = new EtcdEndpointSource(etcd, "calc"); // the first call waits for its first read
            await using var client = new RpcClient(new RpcClientOptions { EndpointSource = source });
            int sum = await client.CreateProxy<Shop.ICalculator>().AddAsync(20, 22);
            Console.WriteLine($"discovered sum={sum} from {source.Endpoints.Count} endpoint(s)");
            return sum == 42 ? 0 : 1;
            """ + MinimalShop, extraItems: $"""<PackageReference Include="RpcGen.Etcd" Version="{_packages.Version}" />""", referenceCore: false);
        (int build, string buildOutput) = RestoreAndBuild(app);
        Assert.True(build == 0, buildOutput);
        Assert.Contains("0 Warning(s)", buildOutput, StringComparison.Ordinal);
        (int run, string runOutput) = Dotnet(app, "run", "--no-build", "-c", "Release", "--", etcd.Url.ToString());
        Assert.True(run == 0, runOutput);
        Assert.Contains("discovered sum=42 from 1 endpoint(s)", runOutput, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Package")]
    public void SqlitePackage_WithTheCorePackage_KeepsAnAnswerAcrossAReopen()
    {
        Packed();
        CheckSatellite("RpcGen.Sqlite");
        string app = Consumer("SqliteApp", """
            using RpcGen;
            using RpcGen.Server.Deduplication;
            using RpcGen.Sqlite;

            var options = new SqliteDeduplicationStoreOptions { Path = Path.Combine(args[0], "dedup.db") };
            var key = new DeduplicationKey(Guid.NewGuid(), "payments/Charge", UInt128.One);
            await using (var store = new SqliteDeduplicationStore(options))
            {
                DeduplicationClaim claim = await store.ClaimAsync(key, TimeSpan.FromSeconds(10));
                await store.CompleteAsync(key.CallId, claim.Token, new DeduplicationRecord(RpcStatusCode.OK, null, null, "7"u8.ToArray(), default));
            }

            await using (var reopened = new SqliteDeduplicationStore(options))
            {
                DeduplicationClaim repeat = await reopened.ClaimAsync(key, TimeSpan.FromSeconds(10));
                Console.WriteLine($"after reopen: {repeat.Status} {System.Text.Encoding.UTF8.GetString(repeat.Record!.Body.Span)}");
                return repeat.Status == DeduplicationClaimStatus.Completed ? 0 : 1;
            }
            """, extraItems: $"""<PackageReference Include="RpcGen.Sqlite" Version="{_packages.Version}" />""", referenceCore: false);
        (int build, string buildOutput) = RestoreAndBuild(app);
        Assert.True(build == 0, buildOutput);
        Assert.Contains("0 Warning(s)", buildOutput, StringComparison.Ordinal);
        string data = Directory.CreateTempSubdirectory("rpcgen-sqlite-package-").FullName;
        (int run, string runOutput) = Dotnet(app, "run", "--no-build", "-c", "Release", "--", data);
        Assert.True(run == 0, runOutput);
        Assert.Contains("after reopen: Completed 7", runOutput, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Package")]
    public async Task RedisPackage_WithTheCorePackage_SharesAnAnswerBetweenTwoStores()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        Packed();
        CheckSatellite("RpcGen.Redis");
        string app = Consumer("RedisApp", """
            using RpcGen;
            using RpcGen.Redis;
            using RpcGen.Server.Deduplication;

            var key = new DeduplicationKey(Guid.NewGuid(), "payments/Charge", UInt128.One);
            await using var first = new RedisDeduplicationStore(new RedisDeduplicationStoreOptions { Configuration = args[0] });
            await using var second = new RedisDeduplicationStore(new RedisDeduplicationStoreOptions { Configuration = args[0] });
            DeduplicationClaim claim = await first.ClaimAsync(key, TimeSpan.FromSeconds(10));
            Console.WriteLine($"other store while running: {(await second.ClaimAsync(key, TimeSpan.FromSeconds(10))).Status}");
            await first.CompleteAsync(key.CallId, claim.Token, new DeduplicationRecord(RpcStatusCode.OK, null, null, "7"u8.ToArray(), default));
            DeduplicationClaim repeat = await second.ClaimAsync(key, TimeSpan.FromSeconds(10));
            Console.WriteLine($"other store after: {repeat.Status} {System.Text.Encoding.UTF8.GetString(repeat.Record!.Body.Span)}");
            return repeat.Status == DeduplicationClaimStatus.Completed ? 0 : 1;
            """, extraItems: $"""<PackageReference Include="RpcGen.Redis" Version="{_packages.Version}" />""", referenceCore: false);
        (int build, string buildOutput) = RestoreAndBuild(app);
        Assert.True(build == 0, buildOutput);
        Assert.Contains("0 Warning(s)", buildOutput, StringComparison.Ordinal);
        (int run, string runOutput) = Dotnet(app, "run", "--no-build", "-c", "Release", "--", redis.Configuration);
        Assert.True(run == 0, runOutput);
        Assert.Contains("other store while running: Running", runOutput, StringComparison.Ordinal);
        Assert.Contains("other store after: Completed 7", runOutput, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Package")]
    public async Task DnsPackage_WithTheCorePackage_DiscoversAServerBySrvRecord()
    {
        await using var server = new RpcServer();
        server.Map<ICalculator>(new Calculator("dns"));
        await server.StartAsync();
        await using DnsmasqServer dns = await DnsmasqServer.StartAsync(new[] { "127.0.0.1 calc1.rpcgen.test" },
            new[] { $"_rpc._tcp.calc.rpcgen.test,calc1.rpcgen.test,{server.Endpoints[0].Port},0,100" });
        Packed();
        CheckSatellite("RpcGen.Dns");
        string app = Consumer("DnsApp", """
            using System.Net;
            using RpcGen;
            using RpcGen.Dns;

            var options = new DnsDiscoveryOptions { Name = "_rpc._tcp.calc.rpcgen.test", Srv = true, NameServers = { IPEndPoint.Parse(args[0]) } };
            await using var source = new DnsEndpointSource(options);
            await source.WaitForEndpointsAsync();
            Console.WriteLine($"resolved {string.Join(",", source.Endpoints)}");
            return source.Endpoints.Count == 1 ? 0 : 1;
            """, extraItems: $"""<PackageReference Include="RpcGen.Dns" Version="{_packages.Version}" />""", referenceCore: false);
        (int build, string buildOutput) = RestoreAndBuild(app);
        Assert.True(build == 0, buildOutput);
        Assert.Contains("0 Warning(s)", buildOutput, StringComparison.Ordinal);
        (int run, string runOutput) = Dotnet(app, "run", "--no-build", "-c", "Release", "--", dns.NameServer.ToString());
        Assert.True(run == 0, runOutput);
        Assert.Contains($"resolved 127.0.0.1:{server.Endpoints[0].Port}", runOutput, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
            // Left for the OS to clean.
        }
    }
}

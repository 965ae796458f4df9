using Microsoft.CodeAnalysis;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Generator;

/// <summary>
/// Every generated file of each interface shape against its checked-in snapshot; every shape's output must compile
/// with no warning (warnings are errors here, as in users' builds with TreatWarningsAsErrors).
/// </summary>
public sealed class GeneratorSnapshotTests
{
    private static void VerifyGenerated(string source, int expectedFiles, [System.Runtime.CompilerServices.CallerMemberName] string test = "")
    {
        (GeneratorDriverRunResult result, Compilation output, _) = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(source));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(GeneratorHarness.Problems(output));
        GeneratedSourceResult[] files = result.Results.Single().GeneratedSources.OrderBy(s => s.HintName, StringComparer.Ordinal).ToArray();
        Assert.Equal(expectedFiles, files.Length);
        foreach (GeneratedSourceResult file in files)
        {
            Snapshot.Verify(file.SourceText.ToString(), file.HintName.Replace(".g.cs", string.Empty, StringComparison.Ordinal), testMethod: test);
        }
    }

    [Fact]
    public void Calculator_AllReturnShapes() => VerifyGenerated("""
        using System.Threading;
        using System.Threading.Tasks;
        using RpcGen;
        using RpcGen.Balancing;
        using RpcGen.Protocol;

        namespace Sample;

        public sealed record Quote(string Symbol, decimal Price);
        public sealed record QuoteRequest(string Symbol);

        [RpcService("calc"), Timeout(500)]
        public interface ICalculator
        {
            Task<int> AddAsync(int a, int b, CancellationToken ct = default);
            ValueTask<Quote> QuoteAsync(QuoteRequest request);
            Task ResetAsync();
            ValueTask PingAsync(CancellationToken cancellationToken);
            [RpcMethod("mul"), Timeout(50)] Task<long> MultiplyAsync(long a, long b);
        }
        """, expectedFiles: 3);

    [Fact]
    public void GlobalNamespaceAndNestedInterfaces() => VerifyGenerated("""
        using System.Threading.Tasks;
        using RpcGen;
        using RpcGen.Balancing;
        using RpcGen.Protocol;

        [RpcService]
        public interface IGlobal
        {
            Task<string> NameAsync();
        }

        namespace Deep.Inside
        {
            public static class Outer
            {
                public class Middle
                {
                    [RpcService]
                    internal interface IInner
                    {
                        Task<int> CountAsync(int start);
                    }
                }
            }
        }
        """, expectedFiles: 6);

    [Fact]
    public void KeywordsCollisionsAndShadowedSystemNames() => VerifyGenerated("""
        using System.Threading;
        using RpcGen;
        using RpcGen.Balancing;
        using RpcGen.Protocol;

        namespace My.System
        {
            public class Task { }
            public class String { }
            public class Text { }
            public class Int32 { }
            public class JsonSerializer { }
            public class Collections { }
        }

        namespace My.System.Threading.Tasks
        {
            public class ValueTask { }
        }

        namespace My.RpcGen
        {
            public class RpcException { }
        }

        namespace My.System.Api
        {
            [RpcService("weird")]
            public interface IWeird
            {
                global::System.Threading.Tasks.Task<int> @class(int @event, string @_invoker, int @reader, int @call, int @payload, int @arg0, int @writer, int @proxy, int @methodIndex, int @this);
                global::System.Threading.Tasks.Task Invoke0(global::System.Threading.CancellationToken @default);
                global::System.Threading.Tasks.Task<String> Write(Task task, Text text);
                [RpcMethod("write2")] global::System.Threading.Tasks.Task<String> Write(Text text);
                global::System.Threading.Tasks.Task InvokeAsync();
                global::System.Threading.Tasks.Task _invoker();
                global::System.Threading.Tasks.Task _method0();
                global::System.Threading.Tasks.Task<int> @async(int @await, int @var, int @nameof);
            }
        }
        """, expectedFiles: 3);

    [Fact]
    public void InheritedMethodsFromBaseInterfaces() => VerifyGenerated("""
        using System.Threading;
        using System.Threading.Tasks;
        using RpcGen;
        using RpcGen.Balancing;
        using RpcGen.Protocol;

        namespace Inheritance;

        public interface IHealth
        {
            Task<bool> IsHealthyAsync(CancellationToken ct = default);
        }

        [Timeout(100)]
        public interface IStore<T>
        {
            Task<T?> GetAsync(string key);
            Task PutAsync(string key, T value);
        }

        public interface IAdmin : IHealth
        {
            Task ShutdownAsync(string reason);
            Task<int> DefaultBodyAsync() => Task.FromResult(1);   // has a body: the proxy needs nothing
        }

        [RpcService("users"), Timeout(2000)]
        public interface IUserService : IStore<string>, IAdmin
        {
            Task<int> CountAsync();
            new Task<bool> IsHealthyAsync(CancellationToken ct = default);
        }
        """, expectedFiles: 3);

    [Fact]
    public void DefaultValuesNullabilityAndComplexTypes() => VerifyGenerated("""
        using System;
        using System.Collections.Generic;
        using System.Threading;
        using System.Threading.Tasks;
        using RpcGen;
        using RpcGen.Balancing;
        using RpcGen.Protocol;

        namespace Shapes;

        public enum Color { Red, Green = 5, Blue = -1 }
        public sealed class Box<T> { public T? Value { get; set; } }

        [RpcService]
        public interface IShapes
        {
            Task<int> DefaultsAsync(
                int number = 42, long big = long.MinValue, string text = "a \"quoted\"\nline", string? none = null,
                Color color = Color.Blue, bool flag = true, double ratio = 0.1, float half = 0.5f, decimal price = 19.99m,
                char letter = '\'', int? maybe = null, double nan = double.NaN, Color zero = default, CancellationToken ct = default);
            Task<string?> NullableAsync(string? name, int? count, Box<string?>? box);
            ValueTask<IReadOnlyList<(int Id, string Name)>> ComplexAsync(Dictionary<string, int[]> map, (int, string)? pair, Box<List<Color>> nested);
            Task<byte[]> BytesAsync(byte[] data, DateTimeOffset at, Guid id, TimeSpan span);
        }
        """, expectedFiles: 3);

    [Fact]
    public void UnsupportedMembersGetThrowingImplementations() => VerifyGenerated("""
        using System;
        using System.Threading;
        using System.Threading.Tasks;
        using RpcGen;
        using RpcGen.Balancing;
        using RpcGen.Protocol;

        namespace Unsupported;

        [RpcService]
        public interface IMixed
        {
            Task<int> GoodAsync(int x);
            int Sync(int x);
            Task RefAsync(ref int x);
            Task OutAsync(out int x);
            Task InAsync(in int x);
            Task ParamsAsync(params int[] xs);
            Task<T> GenericAsync<T>(T value);
            Task TokenFirstAsync(CancellationToken ct, int x);
            Task TwoTokensAsync(CancellationToken a, CancellationToken b);
            Task<int> GoodAsync(long x);
            string Name { get; set; }
            int ReadOnly { get; }
            string Init { get; init; }
            int this[int index] { get; }
            event EventHandler Changed;
            Task SpanAsync(ReadOnlySpan<byte> data);
        }
        """, expectedFiles: 3);

    [Fact]
    public void LoadBalancingAttributesAndHashKeys() => VerifyGenerated("""
        using System;
        using System.Threading;
        using System.Threading.Tasks;
        using RpcGen;
        using RpcGen.Balancing;
        using RpcGen.Protocol;

        namespace Balancing;

        public sealed class FirstBalancer : ILoadBalancer
        {
            public string Name => "first";
            public RpcEndpointState? Pick(in LoadBalancingContext context) => context.Candidates.Length > 0 ? context.Candidates[0] : null;
        }

        public sealed record Profile(string Id);

        [RpcService("profiles"), LoadBalance(LoadBalanceStrategy.PeakEwma)]
        public interface IProfiles
        {
            [LoadBalance(LoadBalanceStrategy.ConsistentHash)]
            Task<Profile> GetAsync([HashKey] string userId, CancellationToken ct = default);

            [LoadBalance(LoadBalanceStrategy.ConsistentHash)]
            Task<int> ScoreAsync([HashKey] string tenant, int round, [HashKey] Guid user);

            [LoadBalance(typeof(FirstBalancer))]
            Task PingAsync();

            Task<int> CountAsync();
        }
        """, expectedFiles: 3);

    [Fact]
    public void ResilienceAttributes_MethodOverInterface() => VerifyGenerated("""
        using System;
        using System.Threading;
        using System.Threading.Tasks;
        using RpcGen;
        using RpcGen.Balancing;
        using RpcGen.Protocol;

        namespace Shop;

        [RpcService("orders"), Timeout(2000), Retry(MaxAttempts = 3, InitialBackoffMs = 50, MaxBackoffMs = 1000)]
        [CircuitBreaker(FailureRatio = 0.25)]
        public interface IOrders
        {
            [Idempotent] Task<string> GetAsync(Guid id, CancellationToken ct = default);
            Task<int> PlaceAsync(string order, CancellationToken ct = default);
            [Idempotent, Hedging(MaxAttempts = 2, DelayMs = 30, AdaptiveDelay = true)] Task<decimal> QuoteAsync(string sku);
            [Broadcast] Task InvalidateCacheAsync(string key);
            [Deduplicate, Retry(MaxAttempts = 5, BackoffMultiplier = 1.5, PerAttemptTimeoutMs = 250,
                RetryableStatusCodes = new[] { RpcStatusCode.Unavailable, RpcStatusCode.ResourceExhausted })]
            Task<int> ChargeAsync(int cents);
            [CircuitBreaker(FailureRatio = 0.5, MinimumThroughput = 20, BreakDurationMs = 5000)] Task<int> StockAsync(string sku);
        }
        """, expectedFiles: 3);

    [Fact]
    public void NamedJsonContext() => VerifyGenerated("""
        using System;
        using System.Text.Json;
        using System.Text.Json.Serialization;
        using System.Text.Json.Serialization.Metadata;
        using System.Threading.Tasks;
        using RpcGen;
        using RpcGen.Balancing;
        using RpcGen.Protocol;

        namespace Aot;

        public sealed record Item(int Id, string Name);

        // Stands in for what System.Text.Json's source generator writes for a partial context.
        public sealed class ShopJson : JsonSerializerContext
        {
            public ShopJson() : base(null) { }
            public static ShopJson Default { get; } = new();
            protected override JsonSerializerOptions? GeneratedSerializerOptions => null;
            public override JsonTypeInfo? GetTypeInfo(Type type) => null;
        }

        [RpcService("shop", JsonContext = typeof(ShopJson))]
        public interface IShop
        {
            Task<Item> GetAsync(int id);
        }
        """, expectedFiles: 3);

    [Fact]
    public void Streams_AllFourShapes() => VerifyGenerated("""
        using System;
        using System.Collections.Generic;
        using System.Threading;
        using System.Threading.Tasks;
        using RpcGen;

        namespace Streams;

        public sealed record Tick(string Symbol, decimal Price);
        public sealed record Trade(string Symbol, int Quantity);
        public sealed record Summary(int Trades);
        public sealed record Event(long Offset, string Text);

        [RpcService("prices"), Timeout(500)]
        public interface IPrices
        {
            IAsyncEnumerable<Tick> WatchAsync(string symbol, CancellationToken ct = default);
            Task<Summary> UploadAsync(IAsyncEnumerable<Trade> trades, CancellationToken ct = default);
            ValueTask StoreAsync(string account, IAsyncEnumerable<Trade> trades, [HashKey] string region);
            [Streaming(WindowItems = 16, WindowBytes = 65536, IdleTimeoutMs = 30000, TimeoutCoversWholeStream = true)]
            IAsyncEnumerable<Tick> ChatAsync(IAsyncEnumerable<Trade> @event, CancellationToken ct = default);
            Task<int> TwoStreamsAsync(IAsyncEnumerable<int> a, IAsyncEnumerable<int> b);
            [Resumable(nameof(Event.Offset))]
            IAsyncEnumerable<Event> TailAsync(string topic, [ResumeFrom] long? after, [HashKey] string shard, CancellationToken ct = default);
        }
        """, expectedFiles: 3);

    [Fact]
    public void Compression_MethodOverInterface() => VerifyGenerated("""
        using System.IO.Compression;
        using System.Threading.Tasks;
        using RpcGen;

        namespace Metrics;

        public sealed record Sample(string Name, double Value);

        [RpcService("metrics"), Compress(MinSize = 4096)]
        public interface IMetrics
        {
            Task<Sample[]> QueryAsync(string expression);
            [Compress(RpcCompression.Brotli, Level = CompressionLevel.SmallestSize, AllowOverTls = true)] Task<Sample[]> ExportAsync(string from);
            [Compress(RpcCompression.None)] Task<int> CountAsync();
        }
        """, expectedFiles: 3);

    [Fact]
    public void EmptyService() => VerifyGenerated("""
        using RpcGen;
        using RpcGen.Balancing;
        using RpcGen.Protocol;

        namespace Empty;

        [RpcService("nothing")]
        public interface INothing
        {
        }
        """, expectedFiles: 3);

    [Fact]
    public void SkippedInterfaces_GenerateNothingAndDoNotCrash()
    {
        (GeneratorDriverRunResult result, Compilation output, _) = GeneratorHarness.Run(GeneratorHarness.CreateCompilation("""
            using System.Threading.Tasks;
            using RpcGen;

            namespace Skipped;

            [RpcService] public interface IGeneric<T> { Task<T> GetAsync(); }
            public class Holder
            {
                [RpcService] private interface IPrivate { Task RunAsync(); }
                [RpcService] protected interface IProtected { Task RunAsync(); }
            }
            public class Generic<T>
            {
                [RpcService] public interface IInGeneric { Task RunAsync(); }
            }
            [RpcService] public interface IStaticAbstract { static abstract int Create(); Task RunAsync(); }
            """));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(result.Results.Single().GeneratedSources);
        Assert.Null(result.Results.Single().Exception);
        Assert.Empty(GeneratorHarness.Problems(output));
    }

    [Fact]
    public void LanguageVersionBelowCSharp9_ReportsRpcgen100()
    {
        CSharpCompilationLike();

        static void CSharpCompilationLike()
        {
            var parse = new Microsoft.CodeAnalysis.CSharp.CSharpParseOptions(Microsoft.CodeAnalysis.CSharp.LanguageVersion.CSharp8);
            var compilation = GeneratorHarness.CreateCompilation()
                .AddSyntaxTrees(Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(
                    "using System.Threading.Tasks; using RpcGen; namespace N { [RpcService] public interface IOld { Task RunAsync(); } }", parse));
            GeneratorDriver driver = Microsoft.CodeAnalysis.CSharp.CSharpGeneratorDriver.Create(
                new[] { new RpcGen.Generator.RpcGenerator().AsSourceGenerator() }, parseOptions: parse);
            driver = driver.RunGenerators(compilation);
            GeneratorDriverRunResult result = driver.GetRunResult();
            Diagnostic diagnostic = Assert.Single(result.Diagnostics);
            Assert.Equal("RPCGEN100", diagnostic.Id);
            Assert.Contains("N.IOld", diagnostic.GetMessage(), StringComparison.Ordinal);
            Assert.Empty(result.Results.Single().GeneratedSources);
        }
    }
}

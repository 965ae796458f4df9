using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Analyzers;

/// <summary>For every rule: a case that must report it at the exact span, and a case that must not.</summary>
public sealed class RpcServiceAnalyzerTests
{
    private const string Usings = """
        using System;
        using System.Collections.Generic;
        using System.IO;
        using System.Threading;
        using System.Threading.Tasks;
        using RpcGen;
        using RpcGen.Balancing;
        using RpcGen.Protocol;

        """;

    private static Task Verify(string body) => Verifiers.VerifyAnalyzerAsync(Usings + body);

    [Fact]
    public Task WellFormedService_ReportsNothing() => Verify("""
        public sealed record Order(Guid Id, decimal Total);
        [RpcService("orders"), Timeout(500), LoadBalance(LoadBalanceStrategy.PowerOfTwoChoices)]
        public interface IOrders
        {
            Task<Order> GetAsync(Guid id, CancellationToken ct = default);
            ValueTask<IReadOnlyList<Order>> ListAsync(int page);
            Task DeleteAsync(Guid id);
            ValueTask PingAsync();
            [RpcMethod("by-user"), LoadBalance(LoadBalanceStrategy.ConsistentHash)] Task<int> CountAsync([HashKey] string user);
            [Timeout(100)] Task<Dictionary<string, int[]>> StatsAsync();
        }
        public interface INotAService { int Sync(ref int x); string Name { get; } }
        """);

    [Fact]
    public Task RPCGEN001_NonTaskReturnType() => Verify("""
        [RpcService] public interface IBad
        {
            {|RPCGEN001:int|} Add(int a, int b);
            {|RPCGEN001:IEnumerable<int>|} ListAsync();
            IAsyncEnumerable<int> StreamAsync();
            Task<int> GoodAsync();
        }
        """);

    [Fact]
    public Task RPCGEN002_ByRefAndParamsParameters() => Verify("""
        [RpcService] public interface IBad
        {
            Task A(ref int {|RPCGEN002:x|});
            Task B(out int {|RPCGEN002:x|});
            Task C(in int {|RPCGEN002:x|});
            Task D(params int[] {|RPCGEN002:xs|});
            Task E(int[] xs);
        }
        """);

    [Fact]
    public Task RPCGEN003_GenericMethod() => Verify("""
        [RpcService] public interface IBad
        {
            Task<T> {|RPCGEN003:GetAsync|}<T>(string key);
            Task<string> GetStringAsync(string key);
        }
        """);

    [Fact]
    public Task RPCGEN004_InterfacesThatCannotBeGenerated() => Verify("""
        [RpcService] public interface {|RPCGEN004:IGeneric|}<T> { Task<T> GetAsync(); }
        public class Holder
        {
            [RpcService] private interface {|RPCGEN004:IPrivate|} { Task RunAsync(); }
            [RpcService] protected interface {|RPCGEN004:IProtected|} { Task RunAsync(); }
            [RpcService] internal interface IInternal { Task RunAsync(); }
        }
        public class Generic<T> { [RpcService] public interface {|RPCGEN004:IInGeneric|} { Task RunAsync(); } }
        [RpcService] public interface {|RPCGEN004:IStaticAbstract|} { static abstract int Create(); Task RunAsync(); }
        """);

    [Fact]
    public Task RPCGEN005_CancellationTokenPlacement() => Verify("""
        [RpcService] public interface IBad
        {
            Task A(CancellationToken {|RPCGEN005:ct|}, int x);
            Task B(int x, CancellationToken a, CancellationToken {|RPCGEN005:b|});
            Task C(int x, CancellationToken ct = default);
        }
        """);

    [Fact]
    public Task RPCGEN006_DuplicateMethodWireNames() => Verify("""
        [RpcService] public interface IBad
        {
            Task<int> AddAsync(int a, int b);
            Task<long> {|RPCGEN006:AddAsync|}(long a, long b);
            Task {|RPCGEN006:Add|}();
            [RpcMethod("add-long")] Task<long> AddLongAsync(long a, long b);
        }
        """);

    [Fact]
    public Task RPCGEN007_DuplicateServiceWireNames() => Verify("""
        [RpcService("calc")] public interface ICalculator { Task RunAsync(); }
        [RpcService("calc")] public interface {|RPCGEN007:ICalculatorV2|} { Task RunAsync(); }
        [RpcService] public interface IPricing { Task RunAsync(); }
        [RpcService("Pricing")] public interface {|RPCGEN007:IPricingV2|} { Task RunAsync(); }
        [RpcService] public interface Icalc { Task RunAsync(); }
        [RpcService("calc2")] public interface IOther { Task RunAsync(); }
        """);

    [Fact]
    public Task RPCGEN008_TypesThatCannotBeSerialized() => Verify("""
        [RpcService] public interface IBad
        {
            Task A(Action {|RPCGEN008:callback|});
            Task B(Stream {|RPCGEN008:data|});
            Task C(IntPtr {|RPCGEN008:handle|});
            Task D(ReadOnlySpan<byte> {|RPCGEN008:bytes|});
            Task E(Task<int> {|RPCGEN008:pending|});
            {|RPCGEN008:Task<MemoryStream>|} F();
            Task G(byte[] bytes, int ok);
        }
        """);

    [Fact]
    public Task RPCGEN009_InterfacesWithoutContract() => Verify("""
        public interface IShape { double Area { get; } }
        public abstract class Animal { }
        [System.Text.Json.Serialization.JsonPolymorphic] [System.Text.Json.Serialization.JsonDerivedType(typeof(Dog))]
        public abstract class Pet { }
        public sealed class Dog : Pet { }
        [RpcService] public interface IBad
        {
            Task A(IShape {|RPCGEN009:shape|});
            {|RPCGEN009:Task<Animal>|} B();
            Task C(Pet pet, IReadOnlyList<int> list, IDictionary<string, int> map, object anything);
        }
        """);

    [Fact]
    public Task RPCGEN010_PropertiesEventsIndexers() => Verify("""
        [RpcService] public interface IBad
        {
            string {|RPCGEN010:Name|} { get; set; }
            event EventHandler {|RPCGEN010:Changed|};
            int {|RPCGEN010:this|}[int index] { get; }
            Task RunAsync();
            static int Helper => 1;
        }
        """);

    [Fact]
    public Task RPCGEN011_InvalidAttributeValues() => Verify("""
        [{|RPCGEN011:RpcService("a/b")|}, {|RPCGEN011:Timeout(0)|}] public interface IBad
        {
            [{|RPCGEN011:RpcMethod("")|}] Task A();
            [{|RPCGEN011:Timeout(-5)|}] Task B();
            [RpcMethod("c.d-e_f"), Timeout(1)] Task C();
        }
        """);

    [Fact]
    public Task RPCGEN012_013_HashKeyAndConsistentHashing() => Verify("""
        [RpcService] public interface IBad
        {
            Task<int> {|RPCGEN012:GetAsync|}([HashKey] string user);
            [LoadBalance(LoadBalanceStrategy.ConsistentHash)] Task<int> {|RPCGEN013:CountAsync|}(string user);
            [LoadBalance(LoadBalanceStrategy.ConsistentHash)] Task<int> GoodAsync([HashKey] string user);
        }
        [RpcService, LoadBalance(LoadBalanceStrategy.ConsistentHash)] public interface IGood
        {
            Task<int> GetAsync([HashKey] string user, [HashKey] int shard);
        }
        """);

    [Fact]
    public Task RPCGEN014_UnusableBalancerTypes() => Verify("""
        public sealed class Good : ILoadBalancer
        {
            public string Name => "good";
            public RpcEndpointState? Pick(in LoadBalancingContext context) => null;
        }
        public sealed class NeedsArguments : ILoadBalancer
        {
            public NeedsArguments(int x) { }
            public string Name => "x";
            public RpcEndpointState? Pick(in LoadBalancingContext context) => null;
        }
        public sealed class NotABalancer { }
        [RpcService] public interface IBad
        {
            [{|RPCGEN014:LoadBalance(typeof(NeedsArguments))|}] Task A();
            [{|RPCGEN014:LoadBalance(typeof(NotABalancer))|}] Task B();
            [LoadBalance(typeof(Good))] Task C();
        }
        """);

    [Fact]
    public Task RPCGEN015_MethodsWithoutACancellationToken() => Verify("""
        [RpcService] public interface IService
        {
            Task<int> {|RPCGEN015:CountAsync|}(string user);
            Task<int> GoodAsync(string user, CancellationToken ct = default);
        }
        """);

    [Fact]
    public Task RPCGEN016_TypesTheNamedJsonContextDoesNotCover() => Verify("""
        public sealed record Item(int Id, string Name, Tag[] Tags);
        public sealed record Tag(string Value);
        public sealed record Other(int X);

        [System.Text.Json.Serialization.JsonSerializable(typeof(Item))]
        [System.Text.Json.Serialization.JsonSerializable(typeof(List<Item>))]
        public sealed class ShopJson : System.Text.Json.Serialization.JsonSerializerContext
        {
            public ShopJson() : base(null) { }
            public static ShopJson Default { get; } = new();
            protected override System.Text.Json.JsonSerializerOptions? GeneratedSerializerOptions => null;
            public override System.Text.Json.Serialization.Metadata.JsonTypeInfo? GetTypeInfo(Type type) => null;
        }

        public sealed class NotAContext { }

        [RpcService("shop", JsonContext = typeof(ShopJson))]
        public interface IShop
        {
            Task<Item> GetAsync(int id, string? name, CancellationToken ct = default);
            Task<List<Item>> ListAsync();
            Task<Tag> TagAsync();
            {|RPCGEN016:Task<Other>|} OtherAsync();
            Task SaveAsync(Other {|RPCGEN016:other|});
            {|RPCGEN016:Task<long>|} CountAsync();
        }

        [{|RPCGEN011:RpcService("bad", JsonContext = typeof(NotAContext))|}]
        public interface IBad { Task RunAsync(); }
        """);

    [Fact]
    public Task RPCGEN019_DataTheContractWouldDrop() => Verify("""
        public sealed class Counter { public int Value { get; } }                            // no setter, no constructor parameter
        public sealed class Bag { public List<int> Items { get; } = new(); }                 // a get-only collection is not populated
        public sealed class Hidden { public int X { get; private set; } }                    // a private setter is not used
        public sealed class Holder { public Counter? Inner { get; set; } }                   // the problem one level down
        public sealed record Point(int X, int Y);                                            // fine: constructor parameters
        public sealed class Settable { public int X { get; set; } public int Y { get; init; } public int Z; }  // fine: fields are included by default
        public sealed class Made { public Made(int value) => Value = value; public int Value { get; } }        // fine: constructor parameter
        public sealed class Ignored { [System.Text.Json.Serialization.JsonIgnore] public int Computed => 1; public int X { get; set; } }
        public sealed class Included { [System.Text.Json.Serialization.JsonInclude] public int X { get; private set; } }

        [RpcService("data")]
        public interface IData
        {
            {|RPCGEN019:Task<Counter>|} CounterAsync();
            Task BagAsync(Bag {|RPCGEN019:bag|});
            Task HiddenAsync(Hidden {|RPCGEN019:hidden|});
            Task HolderAsync(List<Holder> {|RPCGEN019:holders|});
            Task<(int Count, string Name)> TupleAsync((int, string) pair, Point point, Settable settable, Made made, Ignored ignored, Included included);
        }

        public sealed record Row(int Id);
        public sealed class WithField { public int Count; }

        [System.Text.Json.Serialization.JsonSerializable(typeof((int, string)))]
        [System.Text.Json.Serialization.JsonSerializable(typeof(WithField))]
        [System.Text.Json.Serialization.JsonSerializable(typeof(Row))]
        public sealed class NoFieldsJson : System.Text.Json.Serialization.JsonSerializerContext
        {
            public NoFieldsJson() : base(null) { }
            protected override System.Text.Json.JsonSerializerOptions? GeneratedSerializerOptions => null;
            public override System.Text.Json.Serialization.Metadata.JsonTypeInfo? GetTypeInfo(Type type) => null;
        }

        [System.Text.Json.Serialization.JsonSourceGenerationOptions(IncludeFields = true)]
        [System.Text.Json.Serialization.JsonSerializable(typeof((int, string)))]
        [System.Text.Json.Serialization.JsonSerializable(typeof(WithField))]
        public sealed class FieldsJson : System.Text.Json.Serialization.JsonSerializerContext
        {
            public FieldsJson() : base(null) { }
            protected override System.Text.Json.JsonSerializerOptions? GeneratedSerializerOptions => null;
            public override System.Text.Json.Serialization.Metadata.JsonTypeInfo? GetTypeInfo(Type type) => null;
        }

        [RpcService("no-fields", JsonContext = typeof(NoFieldsJson))]
        public interface INoFields
        {
            Task TupleAsync((int, string) {|RPCGEN019:pair|});
            {|RPCGEN019:Task<WithField>|} FieldAsync();
            Task<Row> RowAsync();
        }

        [RpcService("fields", JsonContext = typeof(FieldsJson))]
        public interface IFields
        {
            Task TupleAsync((int, string) pair);
            Task<WithField> FieldAsync();
        }
        """);

    [Fact]
    public Task RPCGEN011_InvalidPolicyValues() => Verify("""
        [RpcService, {|RPCGEN011:Retry(MaxAttempts = 0)|}] public interface IBad
        {
            [Idempotent, {|RPCGEN011:Retry(InitialBackoffMs = 500, MaxBackoffMs = 100)|}] Task A();
            [Idempotent, {|RPCGEN011:Retry(BackoffMultiplier = 0.5)|}] Task B();
            [Idempotent, {|RPCGEN011:Hedging(DelayMs = -1)|}] Task C();
            [Idempotent, {|RPCGEN011:Hedging(MaxAttempts = 11)|}] Task D();
            [{|RPCGEN011:CircuitBreaker(FailureRatio = 1.5)|}] Task E();
            [{|RPCGEN011:CircuitBreaker(MinimumThroughput = 0)|}] Task F();
            [Idempotent, Retry(MaxAttempts = 5, InitialBackoffMs = 0, MaxBackoffMs = 0, BackoffMultiplier = 1, PerAttemptTimeoutMs = 10)] Task G();
            [Idempotent, Hedging(MaxAttempts = 10, DelayMs = 0), CircuitBreaker(FailureRatio = 1, MinimumThroughput = 1)] Task H();
        }
        """);

    [Fact]
    public Task RPCGEN017_RetryOrHedgingOnAMethodThatMayNotRepeat() => Verify("""
        [RpcService, Retry] public interface IOrders
        {
            [Idempotent] Task<int> GetAsync(int id);
            Task<int> {|RPCGEN017:PlaceAsync|}(int id);
            [Deduplicate] Task<int> ChargeAsync(int cents);
            [Retry(MaxAttempts = 1)] Task<int> FailFastAsync(int id);
            [Hedging] Task<int> {|RPCGEN017:QuoteAsync|}(string sku);
            [Deduplicate, Hedging] Task<int> {|RPCGEN017:ReserveAsync|}(string sku);
            [Idempotent, Hedging(DelayMs = 0)] Task<int> ForkAsync(string sku);
            [Broadcast] Task InvalidateAsync(string key);
        }
        [RpcService, Idempotent, Retry] public interface IAllIdempotent { Task<int> GetAsync(int id); }
        """);

    [Fact]
    public Task RPCGEN018_TimeoutShorterThanTheBackoff() => Verify("""
        [RpcService, Timeout(100), Idempotent] public interface IShort
        {
            [Retry(MaxAttempts = 3, InitialBackoffMs = 100)] Task<int> {|RPCGEN018:GetAsync|}(int id);
            [Retry(MaxAttempts = 3, InitialBackoffMs = 10, MaxBackoffMs = 20)] Task<int> FitsAsync(int id);
            [Timeout(1000), Retry(MaxAttempts = 4, InitialBackoffMs = 100)] Task<int> LongerAsync(int id);
            [Timeout(500), Retry(MaxAttempts = 5, InitialBackoffMs = 100, MaxBackoffMs = 1000)] Task<int> {|RPCGEN018:ManyAsync|}(int id);
        }
        """);

    [Fact]
    public Task InheritedMembers_AreCheckedWhereTheyAreDeclared() => Verify("""
        public interface IBase { {|RPCGEN001:int|} Sync(); }
        [RpcService] public interface IDerived : IBase { Task RunAsync(); }
        """);

    [Theory]
    [InlineData("int Add(int a, int b);", "RPCGEN001", "return Task<int> instead")]
    [InlineData("void Reset();", "RPCGEN001", "return Task instead")]
    [InlineData("IEnumerable<int> ListAsync();", "RPCGEN001", "or IAsyncEnumerable<T> (a stream)")]
    [InlineData("[Hedging, Idempotent] IAsyncEnumerable<int> WatchAsync();", "RPCGEN023", "would send the stream twice at once")]
    [InlineData("Task<int> JoinAsync(IAsyncEnumerable<int> a, IAsyncEnumerable<int> b);", "RPCGEN024", "send one stream of a type that holds both")]
    [InlineData("[Resumable] IAsyncEnumerable<int> TailAsync([ResumeFrom] long? after);", "RPCGEN025", "have no readable long property 'Position'")]
    [InlineData("Task SumAsync(params int[] values);", "RPCGEN002", "remove 'params' and let callers pass an array")]
    [InlineData("Task SplitAsync(out int half);", "RPCGEN002", "is an 'out' parameter, which cannot cross the network")]
    [InlineData("[Deduplicate, Hedging] Task PlaceAsync();", "RPCGEN017", "is not [Idempotent] ([Deduplicate] is not enough")]
    [InlineData("[Retry] Task PlaceAsync();", "RPCGEN017", "is neither [Idempotent] nor [Deduplicate]")]
    public async Task Messages_NameTheProblemAndAFixThatCompiles(string member, string id, string expected)
    {
        string message = await Verifiers.MessageAsync(Usings + "[RpcService] public interface IBad { " + member + " }", id);
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.DoesNotContain("Task<void>", message, StringComparison.Ordinal);
        Assert.DoesNotContain("Task<IAsyncEnumerable", message, StringComparison.Ordinal);
        Assert.DoesNotContain("a out", message, StringComparison.Ordinal);
    }

    [Fact]
    public Task RPCGEN020_DisposableInterfaces() => Verify("""
        [RpcService] public interface {|RPCGEN020:ISync|} : IDisposable { Task RunAsync(); }
        [RpcService] public interface {|RPCGEN020:IAsync|} : IAsyncDisposable { Task RunAsync(); }
        public interface IBase : IDisposable { }
        [RpcService] public interface {|RPCGEN020:IDerived|} : IBase { Task RunAsync(); }
        [RpcService] public interface IPlain { Task RunAsync(); }
        """);

    [Fact]
    public Task RPCGEN021_RPCGEN022_AuthorizationAttributes() => Verify("""
        [RpcService, RpcAuthorize, {|RPCGEN021:RpcAllowAnonymous|}] public interface IBoth { Task RunAsync(CancellationToken ct = default); }
        [RpcService] public interface IMethods
        {
            [RpcAuthorize(Roles = "admin"), {|RPCGEN021:RpcAllowAnonymous|}] Task ExportAsync(CancellationToken ct = default);
            [{|RPCGEN022:RpcAuthorize(Roles = " , ")|}] Task RotateAsync(CancellationToken ct = default);
            [RpcAuthorize(Roles = "admin, ops"), RpcAuthorize] Task FineAsync(CancellationToken ct = default);
            [RpcAllowAnonymous] Task OpenAsync(CancellationToken ct = default);
        }
        [RpcService, RpcAuthorize] public interface IGuarded { [RpcAllowAnonymous] Task HealthAsync(CancellationToken ct = default); }
        """);

    [Fact]
    public Task RPCGEN026_AuthorizedMethodsCompressedOverTls() => Verify("""
        [RpcService] public interface IReports
        {
            [RpcAuthorize, {|RPCGEN026:Compress(AllowOverTls = true)|}] Task<string> ExportAsync(CancellationToken ct = default);
            [RpcAuthorize, Compress] Task<string> ListAsync(CancellationToken ct = default);
            [Compress(AllowOverTls = true)] Task<string> PublicAsync(CancellationToken ct = default);
            [RpcAuthorize, Compress(RpcCompression.None, AllowOverTls = true)] Task<string> OffAsync(CancellationToken ct = default);
            [{|RPCGEN011:Compress(MinSize = -1)|}] Task<string> BadAsync(CancellationToken ct = default);
        }
        [RpcService, RpcAuthorize] public interface ISecrets
        {
            [{|RPCGEN026:Compress(RpcCompression.Gzip, AllowOverTls = true)|}] Task<string> DumpAsync(CancellationToken ct = default);
            [RpcAllowAnonymous, Compress(AllowOverTls = true)] Task<string> HealthAsync(CancellationToken ct = default);
        }
        """);

    [Fact]
    public Task RPCGEN023_RPCGEN024_Streams() => Verify("""
        public sealed record Item(string Name);
        [RpcService, Hedging, Idempotent, Deduplicate] public interface IFeed
        {
            IAsyncEnumerable<Item> WatchAsync(string topic, CancellationToken ct = default);
            [{|RPCGEN023:Hedging(MaxAttempts = 2)|}] IAsyncEnumerable<Item> HedgedAsync(CancellationToken ct = default);
            [{|RPCGEN023:Broadcast|}] Task SendAllAsync(IAsyncEnumerable<Item> items, CancellationToken ct = default);
            [{|RPCGEN023:Deduplicate|}] IAsyncEnumerable<Item> ChatAsync(IAsyncEnumerable<Item> items, CancellationToken ct = default);
            [Retry(MaxAttempts = 3)] IAsyncEnumerable<Item> RetriedAsync(CancellationToken ct = default);
            Task<int> JoinAsync(IAsyncEnumerable<Item> left, IAsyncEnumerable<Item> {|RPCGEN024:right|}, CancellationToken ct = default);
            [{|RPCGEN011:Streaming(WindowItems = 0)|}] IAsyncEnumerable<Item> TinyAsync(CancellationToken ct = default);
        }

        public sealed record Event(long Offset);
        [RpcService] public interface IEvents
        {
            [Resumable(nameof(Event.Offset))] IAsyncEnumerable<Event> TailAsync([ResumeFrom] long? after, CancellationToken ct = default);
            [Resumable] IAsyncEnumerable<Event> {|RPCGEN025:NoPropertyAsync|}([ResumeFrom] long? after, CancellationToken ct = default);
            [Resumable(nameof(Event.Offset))] IAsyncEnumerable<Event> {|RPCGEN025:NoFromAsync|}(long? after, CancellationToken ct = default);
            [Resumable(nameof(Event.Offset))] Task<Event> {|RPCGEN025:NotAStreamAsync|}([ResumeFrom] long? after, CancellationToken ct = default);
            IAsyncEnumerable<Event> {|RPCGEN025:FromWithoutResumableAsync|}([ResumeFrom] long? after, CancellationToken ct = default);
            [Resumable(nameof(Event.Offset))]
            IAsyncEnumerable<Event> {|RPCGEN025:WrongTypeAsync|}([ResumeFrom] string? after, CancellationToken ct = default);
        }
        """);

    [Fact]
    public async Task RPCGEN020_SaysToStopInheriting()
    {
        string message = await Verifiers.MessageAsync(Usings + "[RpcService] public interface IOrders : IAsyncDisposable { Task RunAsync(); }", "RPCGEN020");
        Assert.Contains("remove IAsyncDisposable from the interface's base list", message, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryDiagnostic_HasADocsPage_AReleaseRow_AndNamesItsPage()
    {
        string index = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "docs", "diagnostics", "README.md"));
        string releases = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "analyzers", "AnalyzerReleases.Unshipped.md"))
            + File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "generator", "AnalyzerReleases.Shipped.md"))
            + File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "generator", "AnalyzerReleases.Unshipped.md"));
        Microsoft.CodeAnalysis.DiagnosticDescriptor[] descriptors = new RpcGen.Analyzers.RpcServiceAnalyzer().SupportedDiagnostics
            .Append(RpcGen.Generator.DiagnosticDescriptors.LanguageVersionTooLow).ToArray();
        foreach (Microsoft.CodeAnalysis.DiagnosticDescriptor descriptor in descriptors)
        {
            Assert.True(File.Exists(Path.Combine(TestPaths.RepositoryRoot, "docs", "diagnostics", descriptor.Id + ".md")), $"docs/diagnostics/{descriptor.Id}.md is missing");
            Assert.Contains($"[{descriptor.Id}]({descriptor.Id}.md)", index, StringComparison.Ordinal);
            Assert.Contains(descriptor.Id + " |", releases, StringComparison.Ordinal);
            // A help link is either absent or points at a file of this repository; never at an invented address.
            Assert.True(string.IsNullOrEmpty(descriptor.HelpLinkUri), $"{descriptor.Id} links to {descriptor.HelpLinkUri}, which does not exist");
            Assert.Contains($"docs/diagnostics/{descriptor.Id}.md", descriptor.Description.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        }
    }
}

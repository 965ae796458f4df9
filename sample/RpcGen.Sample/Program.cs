// RpcGen sample: servers on loopback, one client spreading calls over them; strategies side by side; retries, idempotency and hedging;
// a service over TLS with bearer tokens and [RpcAuthorize], and the calls it refuses. With "-- hosted": HostedSample.cs.
using System.Diagnostics;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using RpcGen;
using RpcGen.Client;
using RpcGen.Protocol;
using RpcGen.Server;
using Sample;

if (args is ["etcd"])
{
    return await Sample.Discovery.EtcdSample.RunAsync(); // servers registering in a local etcd while a client calls
}

if (args is ["serve-etcd", var etcdUrl, var prefix, var serverName])
{
    return await Sample.Discovery.EtcdSample.ServeAsync(etcdUrl, prefix, serverName); // one server process, for the kill -9 test
}

if (args is ["hosted"])
{
    return await Sample.Hosted.HostedSample.RunAsync(); // the generic-host variant: DI, configuration, OpenTelemetry
}

const int ServerCount = 3;
const int Calls = 30;

var servers = new List<RpcServer>();
for (int i = 0; i < ServerCount; i++)
{
    var server = new RpcServer(new RpcServerOptions()); // 127.0.0.1, port 0 = any free port
    server.Map<ICalculator>(new Calculator($"server-{i + 1}"));
    await server.StartAsync();
    servers.Add(server);
    Console.WriteLine($"server-{i + 1} listening on {server.Endpoints[0]}");
}

var options = new RpcClientOptions();
foreach (RpcServer server in servers)
{
    options.Endpoints.Add(server.Endpoints[0]);
}

await using var client = new RpcClient(options);
ICalculator calc = client.CreateProxy<ICalculator>();

var answeredBy = new Dictionary<string, int>();
var stopwatch = Stopwatch.StartNew();
for (int i = 0; i < Calls; i++)
{
    CalcResult result = await calc.AddAsync(i, i * 10);
    answeredBy[result.Server] = answeredBy.GetValueOrDefault(result.Server) + 1;
    Console.WriteLine($"AddAsync({i}, {i * 10}) = {result.Sum,4}   answered by {result.Server}");
}

long product = await calc.MultiplyAsync(6, 7);
Console.WriteLine($"MultiplyAsync(6, 7) = {product}");

try
{
    await calc.DivideAsync(1, 0);
}
catch (RpcException ex)
{
    Console.WriteLine($"DivideAsync(1, 0) failed as expected: {ex.StatusCode}: {ex.Message}");
}

stopwatch.Stop();
Console.WriteLine();
Console.WriteLine($"Summary: {Calls} calls in {stopwatch.Elapsed.TotalMilliseconds:0} ms");
foreach ((string server, int count) in answeredBy.OrderBy(p => p.Key, StringComparer.Ordinal))
{
    Console.WriteLine($"  {server}: {count} calls");
}

foreach (RpcServer server in servers)
{
    await server.StopAsync();
}

bool spread = answeredBy.Count == ServerCount;
Console.WriteLine(spread ? "Every server answered." : "Not every server answered!");

// Strategies side by side: 1,000 calls from 16 concurrent callers over three servers, one of them slow.
Console.WriteLine();
Console.WriteLine("Load balancing: 1,000 calls, 16 callers, servers take 1 ms, 1 ms and 25 ms");
var workServers = new List<RpcServer>();
foreach ((string name, int delay) in new[] { ("fast-1", 1), ("fast-2", 1), ("slow", 25) })
{
    var server = new RpcServer();
    server.Map<IWork>(new Work(name, delay));
    await server.StartAsync();
    workServers.Add(server);
}

Console.WriteLine($"{"strategy",-18} {"fast-1",7} {"fast-2",7} {"slow",7} {"p50 ms",8} {"p99 ms",8}");
bool slowAvoided = true;
foreach (LoadBalanceStrategy strategy in new[]
{
    LoadBalanceStrategy.RoundRobin, LoadBalanceStrategy.Random, LoadBalanceStrategy.LeastOutstanding,
    LoadBalanceStrategy.PowerOfTwoChoices, LoadBalanceStrategy.PeakEwma,
})
{
    var workOptions = new RpcClientOptions();
    foreach (RpcServer server in workServers)
    {
        workOptions.Endpoints.Add(server.Endpoints[0]);
    }

    workOptions.Balancing.Strategies["work"] = strategy; // overrides the interface's attribute, no recompiling
    await using var workClient = new RpcClient(workOptions);
    IWork work = workClient.CreateProxy<IWork>();
    var perServer = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
    var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
    int taken = 0;
    await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
    {
        while (Interlocked.Increment(ref taken) <= 1000)
        {
            long start = Stopwatch.GetTimestamp();
            string server = await work.DoAsync();
            latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            perServer.AddOrUpdate(server, 1, static (_, n) => n + 1);
        }
    })));

    double[] sorted = latencies.Order().ToArray();
    Console.WriteLine($"{strategy,-18} {perServer.GetValueOrDefault("fast-1"),7} {perServer.GetValueOrDefault("fast-2"),7} {perServer.GetValueOrDefault("slow"),7} {sorted[sorted.Length / 2],8:0.0} {sorted[(int)(sorted.Length * 0.99)],8:0.0}");
    if (strategy is LoadBalanceStrategy.LeastOutstanding or LoadBalanceStrategy.PowerOfTwoChoices or LoadBalanceStrategy.PeakEwma)
    {
        slowAvoided &= perServer.GetValueOrDefault("slow") < 1000 / 6;
    }
}

foreach (RpcServer server in workServers)
{
    await server.DisposeAsync();
}

Console.WriteLine(slowAvoided ? "Load-aware strategies kept most calls off the slow server." : "A load-aware strategy did not avoid the slow server!");

// Resilience: three inventory servers; inv-2 fails every call with Unavailable, inv-3 quotes slowly (500 ms).
Console.WriteLine();
Console.WriteLine("Resilience: inv-2 fails every call, inv-3 answers quotes in 500 ms");
var inventories = new List<Inventory>();
var inventoryServers = new List<RpcServer>();
foreach ((string name, bool broken, int quoteDelay) in new[] { ("inv-1", false, 0), ("inv-2", true, 0), ("inv-3", false, 500) })
{
    var inventory = new Inventory(name, broken, quoteDelay);
    var server = new RpcServer();
    server.Map<IInventory>(inventory);
    await server.StartAsync();
    inventories.Add(inventory);
    inventoryServers.Add(server);
}

var inventoryOptions = new RpcClientOptions();
foreach (RpcServer server in inventoryServers)
{
    inventoryOptions.Endpoints.Add(server.Endpoints[0]);
}

inventoryOptions.Balancing.OutlierDetection.Enabled = false; // show the retries, not ejection
await using var inventoryClient = new RpcClient(inventoryOptions);
IInventory stock = inventoryClient.CreateProxy<IInventory>();

int got = 0;
for (int i = 0; i < 30; i++)
{
    await stock.GetAsync($"sku-{i}");
    got++;
}

Console.WriteLine($"  GetAsync ([Idempotent, Retry]): {got} of 30 succeeded; inv-2 ran {inventories[1].Gets} of them and failed, each retried on another server");

int reserved = 0, refused = 0;
for (int i = 0; i < 6; i++)
{
    try
    {
        await stock.ReserveAsync($"sku-{i}");
        reserved++;
    }
    catch (RpcException ex) when (ex.StatusCode == RpcStatusCode.Unavailable)
    {
        refused++;
    }
}

int reserveRuns = inventories.Sum(i => i.Reserves);
Console.WriteLine($"  ReserveAsync (not idempotent): {reserved} reserved, {refused} failed and were not repeated ({reserveRuns} handler runs for 6 calls)");

for (int i = 0; i < 3; i++)
{
    await stock.QuoteAsync("warm-up"); // one reaches inv-3: the hedging path is compiled before it is measured
}

var quoteLatencies = new List<double>();
int slowAnswers = 0;
for (int i = 0; i < 20; i++)
{
    long start = Stopwatch.GetTimestamp();
    string quote = await stock.QuoteAsync($"sku-{i}");
    double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    quoteLatencies.Add(ms);
    if (quote.StartsWith("inv-3", StringComparison.Ordinal))
    {
        slowAnswers++; // the 500 ms server answered: the hedge to a fast server, sent after 20 ms, did not win
    }
}

Console.WriteLine($"  QuoteAsync ([Hedging(MaxAttempts = 3, DelayMs = 20)]): {20 - slowAnswers} of 20 answered by a fast server; slowest call {quoteLatencies.Max():0} ms although inv-3 takes 500 ms");
foreach (RpcServer server in inventoryServers)
{
    await server.DisposeAsync();
}

// Judged by who answered, not by wall-clock time, so a slow or busy machine does not fail the check.
bool resilient = got == 30 && reserveRuns == 6 && slowAnswers == 0;
Console.WriteLine(resilient ? "Retries, idempotency and hedging behaved as documented." : "Resilience did not behave as documented!");

// Security: a vault over TLS (a certificate made here, trusted by pinning its authority: no certificate file needed),
// bearer tokens checked by the server's authenticator, [RpcAuthorize(Roles = "admin")] on one method.
Console.WriteLine();
Console.WriteLine("Security: the vault over TLS, with bearer tokens");
(X509Certificate2 authority, X509Certificate2 vaultCertificate) = SampleCertificates.Create();
var tokens = new Dictionary<string, ClaimsPrincipal>
{
    ["token-of-bob"] = new(new ClaimsIdentity(new[] { new Claim(ClaimTypes.Name, "bob") }, "Bearer")),
    ["token-of-ann"] = new(new ClaimsIdentity(new[] { new Claim(ClaimTypes.Name, "ann"), new Claim(ClaimTypes.Role, "admin") }, "Bearer")),
};
await using var vaultServer = new RpcServer(new RpcServerOptions
{
    Tls = new RpcServerTlsOptions { Certificate = vaultCertificate },
    Authenticator = RpcAuthenticators.BearerToken((token, _) => ValueTask.FromResult(tokens.GetValueOrDefault(token))),
});
var vault = new Vault();
vaultServer.Map<IVault>(vault);
await vaultServer.StartAsync();

RpcClient VaultClient(string token, bool tls = true) => new(new RpcClientOptions
{
    Endpoints = { vaultServer.Endpoints[0] },
    Tls = tls ? new RpcClientTlsOptions { CertificateAuthorities = new X509Certificate2Collection(authority), TargetHost = "vault.sample" } : null,
    Credentials = RpcCallCredentials.BearerToken(_ => ValueTask.FromResult(token)),
});

async Task<string> Attempt(Func<Task<string>> call)
{
    try
    {
        return await call();
    }
    catch (RpcException ex)
    {
        return $"refused: {ex.StatusCode}: {ex.Message}";
    }
}

await using RpcClient asBob = VaultClient("token-of-bob");
await using RpcClient asAnn = VaultClient("token-of-ann");
await using RpcClient inTheClear = VaultClient("token-of-ann", tls: false);
string bobReads = await Attempt(() => asBob.CreateProxy<IVault>().ReadAsync("db-password"));
string bobRotates = await Attempt(() => asBob.CreateProxy<IVault>().RotateAsync("db-password"));
string annRotates = await Attempt(() => asAnn.CreateProxy<IVault>().RotateAsync("db-password"));
string clearText = await Attempt(() => inTheClear.CreateProxy<IVault>().ReadAsync("db-password"));
Console.WriteLine($"  bob reads:                 {bobReads}");
Console.WriteLine($"  bob rotates:               {bobRotates}");
Console.WriteLine($"  ann (admin) rotates:       {annRotates}");
Console.WriteLine($"  a token over plain TCP:    {clearText}");
bool secure = bobReads == "db-password read by bob over TLS" && bobRotates.StartsWith("refused: PermissionDenied", StringComparison.Ordinal) &&
    annRotates == "db-password rotated by ann" && clearText.StartsWith("refused: Unauthenticated", StringComparison.Ordinal) && vault.Rotations == 1;
Console.WriteLine(secure ? "TLS, tokens and [RpcAuthorize] behaved as documented." : "Security did not behave as documented!");
return spread && slowAvoided && resilient && secure ? 0 : 1;

namespace Sample
{
    [RpcService("work"), LoadBalance(LoadBalanceStrategy.PowerOfTwoChoices)]
    public interface IWork
    {
        Task<string> DoAsync(CancellationToken cancellationToken = default);
    }

    public sealed class Work(string name, int delayMs) : IWork
    {
        public async Task<string> DoAsync(CancellationToken cancellationToken = default)
        {
            await Task.Delay(delayMs, cancellationToken);
            return name;
        }
    }

    [RpcService("inventory"), Timeout(2000), Retry(MaxAttempts = 3, InitialBackoffMs = 10, MaxBackoffMs = 100)]
    public interface IInventory
    {
        [Idempotent]
        Task<string> GetAsync(string sku, CancellationToken cancellationToken = default);

        [Retry(MaxAttempts = 1)] // not idempotent: fail fast rather than reserve twice
        Task<string> ReserveAsync(string sku, CancellationToken cancellationToken = default);

        [Idempotent, Hedging(MaxAttempts = 3, DelayMs = 20)]
        Task<string> QuoteAsync(string sku, CancellationToken cancellationToken = default);
    }

    public sealed class Inventory(string name, bool broken, int quoteDelayMs) : IInventory
    {
        public int Gets;
        public int Reserves;

        public Task<string> GetAsync(string sku, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Gets);
            return broken ? throw new RpcException(RpcStatusCode.Unavailable, $"{name} is broken") : Task.FromResult($"{name}:{sku}");
        }

        public Task<string> ReserveAsync(string sku, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Reserves);
            return broken ? throw new RpcException(RpcStatusCode.Unavailable, $"{name} is broken") : Task.FromResult($"{name}:reserved:{sku}");
        }

        public async Task<string> QuoteAsync(string sku, CancellationToken cancellationToken = default)
        {
            if (broken)
            {
                throw new RpcException(RpcStatusCode.Unavailable, $"{name} is broken");
            }

            await Task.Delay(quoteDelayMs, cancellationToken);
            return $"{name}:quote:{sku}";
        }
    }

    [RpcService("vault"), RpcAuthorize, Timeout(5000)]
    public interface IVault
    {
        Task<string> ReadAsync(string name, CancellationToken cancellationToken = default);

        [RpcAuthorize(Roles = "admin")]
        Task<string> RotateAsync(string name, CancellationToken cancellationToken = default);
    }

    public sealed class Vault : IVault
    {
        public int Rotations;

        public Task<string> ReadAsync(string name, CancellationToken cancellationToken = default)
        {
            RpcCallContext call = RpcCallContext.Current!;
            return Task.FromResult($"{name} read by {call.User!.Identity!.Name}{(call.IsEncrypted ? " over TLS" : string.Empty)}");
        }

        public Task<string> RotateAsync(string name, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Rotations);
            return Task.FromResult($"{name} rotated by {RpcCallContext.Current!.User!.Identity!.Name}");
        }
    }

    /// <summary>A private authority and a server certificate it signs, made at start: nothing to install or commit.</summary>
    public static class SampleCertificates
    {
        public static (X509Certificate2 Authority, X509Certificate2 Server) Create()
        {
            using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var caRequest = new CertificateRequest("CN=RpcGen Sample CA", caKey, HashAlgorithmName.SHA256);
            caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
            X509Certificate2 authority = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=vault.sample", key, HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("vault.sample");
            request.CertificateExtensions.Add(names.Build());
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
            using X509Certificate2 issued = request.Create(authority, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(12));
            using X509Certificate2 withKey = issued.CopyWithPrivateKey(key);
            return (authority, X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null));
        }
    }

    public sealed record CalcResult(int Sum, string Server);

    [RpcService("calc")]
    [Timeout(2000)]
    public interface ICalculator
    {
        Task<CalcResult> AddAsync(int a, int b, CancellationToken cancellationToken = default);

        [RpcMethod("mul")]
        Task<long> MultiplyAsync(long a, long b);

        Task<int> DivideAsync(int a, int b);
    }

    public sealed class Calculator(string name) : ICalculator
    {
        public Task<CalcResult> AddAsync(int a, int b, CancellationToken cancellationToken = default) =>
            Task.FromResult(new CalcResult(a + b, name));

        public Task<long> MultiplyAsync(long a, long b) => Task.FromResult(a * b);

        public Task<int> DivideAsync(int a, int b) =>
            b == 0
                ? throw new RpcException(RpcStatusCode.InvalidArgument, "Cannot divide by zero.")
                : Task.FromResult(a / b);
    }
}

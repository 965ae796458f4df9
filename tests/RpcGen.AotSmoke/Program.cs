// Native AOT smoke test: a server and a client in this process over loopback TCP, with reflection-based JSON off.
// Exit code 0 and "AOT round trip: ok" when every check holds; 1 with the failed check otherwise.
using System.Text.Json.Serialization;
using Microsoft.Extensions.Configuration;
using RpcGen;
using RpcGen.Client;
using RpcGen.Server;

await using var server = new RpcServer(new RpcServerOptions());
server.Map<IInventory>(new Inventory());
await server.StartAsync();

// Options from configuration: the binder's generated code, not reflection, must fill every group under Native AOT.
IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
{
    ["RpcGen:Endpoints:0"] = server.Endpoints[0].ToString(),
    ["RpcGen:Connection:ConnectTimeout"] = "00:00:03",
    ["RpcGen:Balancing:Strategies:inventory"] = "PowerOfTwoChoices",
    ["RpcGen:Balancing:OutlierDetection:ConsecutiveFailures"] = "7",
    ["RpcGen:Resilience:Policies:inventory/Get:Retry:MaxAttempts"] = "3",
    ["RpcGen:Resilience:Policies:inventory/Get:Retry:RetryableStatusCodes:0"] = "Unavailable",
}).Build();
RpcClientOptions options = new RpcClientOptions().ApplyConfiguration(configuration.GetSection("RpcGen"));
Check(options.Connection.ConnectTimeout == TimeSpan.FromSeconds(3) && options.Balancing.Strategies["inventory"] == LoadBalanceStrategy.PowerOfTwoChoices &&
      options.Balancing.OutlierDetection.ConsecutiveFailures == 7 && options.Resilience.Policies["inventory/Get"].Retry is { MaxAttempts: 3, RetryableStatusCodes: [RpcStatusCode.Unavailable] },
      "options bound from configuration");
try
{
    new RpcClientOptions().ApplyConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["RpcGen:Connection:Typo"] = "1" }).Build().GetSection("RpcGen"));
    Check(false, "an unknown configuration key should have failed");
}
catch (ArgumentException ex)
{
    Check(ex.Message.Contains("Typo", StringComparison.Ordinal), ex.Message);
}

await using var client = new RpcClient(options);
IInventory inventory = client.CreateProxy<IInventory>();
Item item = await inventory.GetAsync("sku-1");
Check(item == new Item("sku-1", 3), $"GetAsync returned {item}");
Check(await inventory.CountAsync() == 1, "CountAsync");
(int count, string name) = await inventory.TopAsync((2, "b"));
Check(count == 3 && name == "b!", $"TopAsync returned ({count}, {name})");

// Streams, both ways, with the JSON context's contracts only.
var restocked = new List<Item>();
await foreach (Item each in inventory.WatchAsync(3))
{
    restocked.Add(each);
}

Check(restocked.Count == 3 && restocked[2] == new Item("sku-3", 3), $"WatchAsync returned {restocked.Count} items");
Check(await inventory.RestockAsync(Items(50)) == 50 * 51 / 2, "RestockAsync summed the streamed items");
int echoed = 0;
await foreach (Item each in inventory.EchoAsync(Items(20)))
{
    echoed += each.Quantity;
}

Check(echoed == 20 * 21 / 2, $"EchoAsync echoed {echoed}");

// A service that names no JSON context cannot work without reflection: RpcGen says which type to add, and where.
try
{
    client.CreateProxy<IUntyped>();
    Check(false, "CreateProxy<IUntyped> should have failed without reflection-based JSON");
}
catch (InvalidOperationException ex)
{
    Check(ex.Message.Contains("JsonContext", StringComparison.Ordinal) && ex.Message.Contains("IUntyped", StringComparison.Ordinal), ex.Message);
}

Console.WriteLine($"AOT round trip: ok (dynamic code {(System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported ? "supported: JIT" : "not supported: Native AOT")})");
return 0;

static async IAsyncEnumerable<Item> Items(int count)
{
    for (int i = 1; i <= count; i++)
    {
        await Task.Yield();
        yield return new Item("sku-" + i, i);
    }
}

static void Check(bool condition, string what)
{
    if (!condition)
    {
        Console.Error.WriteLine("AOT smoke test failed: " + what);
        Environment.Exit(1);
    }
}

public sealed record Item(string Sku, int Quantity);

[JsonSourceGenerationOptions(IncludeFields = true)]
[JsonSerializable(typeof(Item))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof((int, string)))]
public sealed partial class AppJson : JsonSerializerContext;

[RpcService("inventory", JsonContext = typeof(AppJson)), Timeout(5000)]
public interface IInventory
{
    Task<Item> GetAsync(string sku, CancellationToken cancellationToken = default);

    Task<int> CountAsync(CancellationToken cancellationToken = default);

    Task<(int Count, string Name)> TopAsync((int, string) seed, CancellationToken cancellationToken = default);

    IAsyncEnumerable<Item> WatchAsync(int count, CancellationToken cancellationToken = default);

    Task<int> RestockAsync(IAsyncEnumerable<Item> items, CancellationToken cancellationToken = default);

    IAsyncEnumerable<Item> EchoAsync(IAsyncEnumerable<Item> items, CancellationToken cancellationToken = default);
}

/// <summary>No JSON context: fine with reflection, refused (with RpcGen's message) without it.</summary>
[RpcService("untyped")]
public interface IUntyped
{
    Task<Item> GetAsync(string sku, CancellationToken cancellationToken = default);
}

public sealed class Inventory : IInventory
{
    public Task<Item> GetAsync(string sku, CancellationToken cancellationToken = default) => Task.FromResult(new Item(sku, 3));

    public Task<int> CountAsync(CancellationToken cancellationToken = default) => Task.FromResult(1);

    public Task<(int Count, string Name)> TopAsync((int, string) seed, CancellationToken cancellationToken = default) =>
        Task.FromResult((seed.Item1 + 1, seed.Item2 + "!"));

    public async IAsyncEnumerable<Item> WatchAsync(int count, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (int i = 1; i <= count; i++)
        {
            await Task.Yield();
            yield return new Item("sku-" + i, 3);
        }
    }

    public async Task<int> RestockAsync(IAsyncEnumerable<Item> items, CancellationToken cancellationToken = default)
    {
        int total = 0;
        await foreach (Item item in items.WithCancellation(cancellationToken))
        {
            total += item.Quantity;
        }

        return total;
    }

    public async IAsyncEnumerable<Item> EchoAsync(IAsyncEnumerable<Item> items, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (Item item in items.WithCancellation(cancellationToken))
        {
            yield return item;
        }
    }
}

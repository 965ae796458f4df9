using System.Text.Json.Serialization;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

[RpcService("tuples")]
public interface ITuples
{
    Task<(int Count, string Name)> TupleAsync((int, string) t);

    Task<List<(string Key, double Value)>> PairsAsync(Dictionary<string, double> values);
}

public sealed class Tuples : ITuples
{
    public (int, string)? Received { get; private set; }

    public Task<(int Count, string Name)> TupleAsync((int, string) t)
    {
        Received = t;
        return Task.FromResult((t.Item1 + 1, t.Item2 + "!"));
    }

    public Task<List<(string Key, double Value)>> PairsAsync(Dictionary<string, double> values) =>
        Task.FromResult(values.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value)).ToList());
}

[JsonSourceGenerationOptions(IncludeFields = true)]
[JsonSerializable(typeof((int, string)))]
[JsonSerializable(typeof(Dictionary<string, double>))]
[JsonSerializable(typeof(List<(string Key, double Value)>))]
public sealed partial class TupleJson : JsonSerializerContext;

[RpcService("tuples-ctx", JsonContext = typeof(TupleJson))]
public interface ITuplesInContext
{
    Task<(int Count, string Name)> TupleAsync((int, string) t);

    Task<List<(string Key, double Value)>> PairsAsync(Dictionary<string, double> values);
}

public sealed class TuplesInContext : ITuplesInContext
{
    private readonly Tuples _inner = new();

    public Task<(int Count, string Name)> TupleAsync((int, string) t) => _inner.TupleAsync(t);

    public Task<List<(string Key, double Value)>> PairsAsync(Dictionary<string, double> values) => _inner.PairsAsync(values);
}

/// <summary>Tuples travel whole: as arguments, results and inside collections, with and without a user JSON context.</summary>
public sealed class TupleTests
{
    [Fact]
    public async Task Tuples_RoundTrip_UnderTheDefaultOptions()
    {
        var tuples = new Tuples();
        await using var server = new RpcServer();
        server.Map<ITuples>(tuples);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        ITuples proxy = client.CreateProxy<ITuples>();

        (int count, string name) = await proxy.TupleAsync((41, "answer"));
        Assert.Equal((41, "answer"), tuples.Received);
        Assert.Equal(42, count);
        Assert.Equal("answer!", name);
        Assert.Equal(new List<(string, double)> { ("a", 1.5), ("b", 2) }, await proxy.PairsAsync(new() { ["b"] = 2, ["a"] = 1.5 }));
    }

    [Fact]
    public async Task Tuples_RoundTrip_WithAJsonContextThatIncludesFields()
    {
        await using var server = new RpcServer();
        server.Map<ITuplesInContext>(new TuplesInContext());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        ITuplesInContext proxy = client.CreateProxy<ITuplesInContext>();

        Assert.Equal((8, "x!"), await proxy.TupleAsync((7, "x")));
        Assert.Equal(new List<(string, double)> { ("k", 3) }, await proxy.PairsAsync(new() { ["k"] = 3 }));
    }
}

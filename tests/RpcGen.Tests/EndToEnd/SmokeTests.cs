using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

public sealed class SmokeTests
{
    [Fact]
    public async Task AddAsync_OverTcp_ReturnsSum()
    {
        await using var server = new RpcServer();
        server.Map<ICalculator>(new Calculator("a"));
        await server.StartAsync();
        var options = new RpcClientOptions();
        options.Endpoints.Add(server.Endpoints[0]);
        await using var client = new RpcClient(options);
        ICalculator calc = client.CreateProxy<ICalculator>();
        Assert.Equal(5, await calc.AddAsync(2, 3));
        Quote quote = await calc.QuoteAsync(new QuoteRequest("MSFT", 2));
        Assert.Equal(25m, quote.Price);
        await calc.ResetAsync();
        Assert.Equal(42L, await calc.MultiplyAsync(6, 7));
    }

    [Fact]
    public async Task AddAsync_InProcess_ReturnsSum()
    {
        await using var server = new RpcServer();
        server.Map<ICalculator>(new Calculator("a"));
        await server.StartAsync();
        var options = new RpcClientOptions();
        options.Endpoints.Add(server.InProcessEndpoint);
        await using var client = new RpcClient(options);
        ICalculator calc = client.CreateProxy<ICalculator>();
        Assert.Equal(5, await calc.AddAsync(2, 3));
        Assert.Equal("a", await calc.WhoAmIAsync());
    }
}

using Xunit;

namespace RpcGen.Tests.EndToEnd;

#pragma warning disable RPCGEN020 // deliberately: what happens when the warning is ignored
[RpcService("closeable")]
public interface ICloseable : IAsyncDisposable, IDisposable
{
    Task<int> CountAsync();
}
#pragma warning restore RPCGEN020

public sealed class Closeable : ICloseable
{
    public int Disposed;

    public Task<int> CountAsync() => Task.FromResult(Volatile.Read(ref Disposed));

    public ValueTask DisposeAsync()
    {
        Interlocked.Increment(ref Disposed);
        return default;
    }

    public void Dispose() => Interlocked.Increment(ref Disposed);
}

/// <summary>Disposing a proxy is local: `await using var proxy = ...` never disposes the server's instance (RPCGEN020).</summary>
public sealed class DisposableInterfaceTests
{
    [Fact]
    public async Task DisposingAProxy_DoesNotReachTheServer()
    {
        var closeable = new Closeable();
        await using var server = new RpcServer();
        server.Map<ICloseable>(closeable);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });

        await using (ICloseable proxy = client.CreateProxy<ICloseable>())
        {
            Assert.Equal(0, await proxy.CountAsync());
        }

        using (ICloseable proxy = client.CreateProxy<ICloseable>())
        {
            Assert.Equal(0, await proxy.CountAsync());
        }

        Assert.Equal(0, closeable.Disposed);
        Assert.DoesNotContain(RpcServiceRegistry.GetDescriptor<ICloseable>()!.Methods, m => m.ClrName.StartsWith("Dispose", StringComparison.Ordinal));
    }

    [Fact]
    public void CreateProxy_OnAGenericInterface_SaysGenericInterfacesAreNotGenerated()
    {
        var error = Assert.Throws<InvalidOperationException>(() => RpcServiceRegistry.EnsureRegistered<IGenericRepository<int>>());
        Assert.Contains("IGenericRepository<Int32>", error.Message, StringComparison.Ordinal);
        Assert.Contains("declare one non-generic interface per type argument", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Annotate the interface", error.Message, StringComparison.Ordinal);
    }
}

#pragma warning disable RPCGEN004 // deliberately: a generic interface gets no generated code
[RpcService("repo")]
public interface IGenericRepository<T>
{
    Task<T> GetAsync(int id);
}
#pragma warning restore RPCGEN004

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using RpcGen.Hosting;
using RpcGen.Server.Deduplication;
using RpcGen.Sqlite;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Deduplication;

/// <summary>The generic host: stores chosen by name in configuration, per service, and their health.</summary>
public sealed class DeduplicationHostingTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rpcgen-dedup-host-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A store a failed test left open.
        }
    }

    private IHost Build(Dictionary<string, string?> settings, IDeduplicationStore? broken = null)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddHealthChecks().AddRpcHealthChecks();
        RpcServerBuilder server = builder.Services.AddRpcServer(o => o.Listen.Add(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)))
            .MapService<ILedger, Ledger>(ServiceLifetime.Singleton)
            .MapService<ICalculator, Calculator>(ServiceLifetime.Singleton)
            .AddDeduplicationStore("sqlite", _ =>
                new SqliteDeduplicationStore(new SqliteDeduplicationStoreOptions { Path = Path.Combine(_directory, "dedup.db") }));
        builder.Services.AddSingleton(new Calculator("hosted"));
        if (broken is not null)
        {
            server.AddDeduplicationStore("broken", _ => broken);
        }

        return builder.Build();
    }

    [Fact]
    public async Task Configuration_ChoosesStoresByName_PerService_AndTheHealthCheckReadsEach()
    {
        using IHost host = Build(new Dictionary<string, string?>
        {
            ["RpcGen:Server:Deduplication:Store"] = "file",
            ["RpcGen:Server:Deduplication:File:Directory"] = Path.Combine(_directory, "file-store"),
            ["RpcGen:Server:Deduplication:Stores:ledger"] = "sqlite",
        });
        await host.StartAsync();
        RpcServer server = host.Services.GetRequiredService<RpcServerHost>().Server!;
        RpcMethodDescriptorFor(server, "ledger", out IDeduplicationStore ledgerStore, out IDeduplicationStore calcStore);
        Assert.IsType<SqliteDeduplicationStore>(ledgerStore);
        Assert.IsType<FileDeduplicationStore>(calcStore);
        Assert.Equal(new[] { "sqlite", "file", "memory" }, server.DeduplicationStores.Select(s => s.Name));

        // A deduplicated call goes through the store configuration chose.
        await using (RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]))
        {
            await raw.WriteAsync(DeduplicationServerTests.Request(1, Guid.NewGuid(), "ledger/Post", "[\"alice\",1]"));
            (_, DeduplicationServerTests.Answer answer) = await DeduplicationServerTests.ReadAnswerAsync(raw).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal("\"alice:1:run1\"", answer.Text);
        }

        Assert.Equal(1, (await ledgerStore.GetStatusAsync()).Entries);
        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        HealthReportEntry dedup = report.Entries["rpcgen-deduplication"];
        Assert.Equal(HealthStatus.Healthy, dedup.Status);
        Assert.Contains("1 of 1000000 entries", (string)dedup.Data["sqlite"], StringComparison.Ordinal);
        Assert.Contains("file", dedup.Data.Keys);
        await host.StopAsync();
    }

    [Fact]
    public async Task AStoreThatDoesNotAnswer_MakesTheCheckUnhealthy_AndAnUnknownNameStopsTheStart()
    {
        using IHost host = Build(new Dictionary<string, string?> { ["RpcGen:Server:Deduplication:Store"] = "broken" }, new SilentStore());
        await host.StartAsync();
        HealthReportEntry dedup = (await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["rpcgen-deduplication"];
        Assert.Equal(HealthStatus.Unhealthy, dedup.Status);
        Assert.Contains("broken: does not answer", dedup.Description, StringComparison.Ordinal);
        await host.StopAsync();

        using IHost unknown = Build(new Dictionary<string, string?> { ["RpcGen:Server:Deduplication:Stores:ledger"] = "postgres" });
        Exception error = await Assert.ThrowsAnyAsync<Exception>(() => unknown.StartAsync());
        Assert.Contains("no deduplication store is named 'postgres'", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("Deduplication:Stores:ledger", error.ToString(), StringComparison.Ordinal);
    }

    private static void RpcMethodDescriptorFor(RpcServer server, string service, out IDeduplicationStore chosen, out IDeduplicationStore other)
    {
        RpcGen.Descriptors.RpcServiceDescriptor ledger = RpcGen.Descriptors.RpcServiceRegistry.GetRequiredDescriptor<ILedger>();
        RpcGen.Descriptors.RpcServiceDescriptor calc = RpcGen.Descriptors.RpcServiceRegistry.GetRequiredDescriptor<ICalculator>();
        Assert.Equal(service, ledger.Name);
        chosen = server.Deduplication.StoreFor(ledger.Methods[0]);
        other = server.Deduplication.StoreFor(calc.Methods[0]);
    }

    /// <summary>A store whose status never comes (a Redis that hangs).</summary>
    private sealed class SilentStore : IDeduplicationStore
    {
        public string Name => "broken";

        public ValueTask<DeduplicationClaim> ClaimAsync(DeduplicationKey key, TimeSpan lease, CancellationToken cancellationToken = default) =>
            ValueTask.FromException<DeduplicationClaim>(new IOException("down"));

        public ValueTask<bool> RenewAsync(Guid callId, long token, TimeSpan lease, CancellationToken cancellationToken = default) => new(false);

        public ValueTask<bool> CompleteAsync(Guid callId, long token, DeduplicationRecord record, CancellationToken cancellationToken = default) =>
            new(false);

        public ValueTask AbandonAsync(Guid callId, long token, CancellationToken cancellationToken = default) => default;

        public ValueTask<int> SweepAsync(CancellationToken cancellationToken = default) => new(0);

        public async ValueTask<DeduplicationStoreStatus> GetStatusAsync(CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }

        public ValueTask DisposeAsync() => default;
    }
}

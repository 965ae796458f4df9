using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RpcGen.Benchmarks.Grpc;

namespace RpcGen.Benchmarks;

/// <summary>
/// gRPC-dotnet 2.85 as users run it: Kestrel serving HTTP/2 cleartext on loopback, protobuf messages generated from
/// bench.proto, one <see cref="GrpcChannel"/> (one HTTP/2 connection) shared by every caller, logging off on both sides.
/// </summary>
internal static class GrpcCandidate
{
    /// <summary>Kestrel with the load runner's gRPC services, and any more that <paramref name="map"/> adds.</summary>
    public static async Task<(WebApplication App, int Port)> StartServerAsync(Action<WebApplication>? map = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        WebApplication app = builder.Build();
        app.MapGrpcService<SumService>();
        app.MapGrpcService<PayloadService>();
        map?.Invoke(app);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new Uri(address).Port);
    }

    public static GrpcChannel CreateChannel(int port) =>
        GrpcChannel.ForAddress($"http://127.0.0.1:{port}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false },
        });

    private sealed class PayloadService : GrpcPayloadBench.GrpcPayloadBenchBase
    {
        public override Task<Record> EchoRecord(Record request, ServerCallContext context) => Task.FromResult(request);

        public override Task<Blob> EchoBytes(Blob request, ServerCallContext context) => Task.FromResult(request);

        public override Task<Readings> EchoReadings(Readings request, ServerCallContext context) => Task.FromResult(request);
    }

    /// <summary>The protobuf twin of <see cref="BenchReading.Page"/>.</summary>
    public static Readings SampleReadings()
    {
        var readings = new Readings();
        readings.Items.Add(BenchReading.Page.Select(r => new Reading
        {
            Sensor = r.Sensor, AtUnixMs = r.At.ToUnixTimeMilliseconds(), Value = r.Value, Unit = r.Unit, Site = r.Site,
        }));
        return readings;
    }

    /// <summary>The protobuf twin of <see cref="BenchRecord.Sample"/>.</summary>
    public static Record SampleRecord()
    {
        BenchRecord sample = BenchRecord.Sample;
        var record = new Record
        {
            Id = sample.Id, Name = sample.Name, Email = sample.Email, Country = sample.Country,
            CreatedUnixMs = sample.Created.ToUnixTimeMilliseconds(), Score = sample.Score, Active = sample.Active, Notes = sample.Notes,
        };
        record.Tags.Add(sample.Tags);
        return record;
    }

    private sealed class SumService : GrpcBench.GrpcBenchBase
    {
        public override Task<SumReply> Sum(SumRequest request, ServerCallContext context) =>
            Task.FromResult(new SumReply { Sum = request.A + request.B });
    }
}

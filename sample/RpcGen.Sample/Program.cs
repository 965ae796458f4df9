// The RpcGen sample: one scenario per folder, each readable alone (as grpc-dotnet's examples are). With no argument it
// runs the six that need nothing but loopback and exits 0 when all behaved as documented; name one to run it alone.
//
//   dotnet run --project sample/RpcGen.Sample -c Release                 basics, balancing, resilience, security, streaming, gateway
//   dotnet run --project sample/RpcGen.Sample -c Release -- gateway serve  the HTTP/JSON gateway on 127.0.0.1:5080, for curl
//   dotnet run --project sample/RpcGen.Sample -c Release -- balancing    one of them
//   dotnet run --project sample/RpcGen.Sample -c Release -- hosted       the generic host, DI and OpenTelemetry (Hosted/)
//   dotnet run --project sample/RpcGen.Sample -c Release -- hosted serve  the same, kept up, admin page on 127.0.0.1:5090
//   dotnet run --project sample/RpcGen.Sample -c Release -- etcd         discovery on a throwaway local etcd (Discovery/)

var scenarios = new (string Name, Func<Task<bool>> Run)[]
{
    ("basics", Sample.Basics.BasicsScenario.RunAsync),
    ("balancing", Sample.Balancing.BalancingScenario.RunAsync),
    ("resilience", Sample.Resilience.ResilienceScenario.RunAsync),
    ("security", Sample.Security.SecurityScenario.RunAsync),
    ("streaming", Sample.Streaming.StreamingScenario.RunAsync),
    ("gateway", Sample.Gateway.GatewayScenario.RunAsync),
};

switch (args)
{
    case ["etcd"]:
        return await Sample.Discovery.EtcdSample.RunAsync(); // servers registering in a local etcd while a client calls
    case ["serve-etcd", var etcdUrl, var prefix, var serverName]:
        return await Sample.Discovery.EtcdSample.ServeAsync(etcdUrl, prefix, serverName); // one server process, for the kill -9 test
    case ["serve-events", var port]:
        // One server process of the resumable feed, for the kill -9 test of resumable streams.
        return await Sample.Streaming.EventFeed.ServeAsync(int.Parse(port, System.Globalization.CultureInfo.InvariantCulture));
    case ["serve-payments", var port, var kind, var where]:
        // One payments server process (a SQLite file or a Redis shared with others), for the kill -9 test of [Deduplicate].
        return await Sample.Payments.PaymentsServer.ServeAsync(int.Parse(port, System.Globalization.CultureInfo.InvariantCulture), kind, where);
    case ["gateway", "serve"]:
        return await Sample.Gateway.GatewayScenario.RunAsync(serve: true) ? 0 : 1; // stays up for curl and browsers
    case ["hosted"]:
        return await Sample.Hosted.HostedSample.RunAsync(); // the generic-host variant: DI, configuration, OpenTelemetry
    case ["hosted", "serve"]:
        return await Sample.Hosted.HostedSample.RunAsync(serve: true); // stays up with the admin page on 127.0.0.1:5090
    case []:
        bool all = true;
        foreach ((string _, Func<Task<bool>> run) in scenarios)
        {
            all &= await run();
        }

        return all ? 0 : 1;
    case [var name] when Array.Find(scenarios, s => s.Name == name).Run is { } one:
        return await one() ? 0 : 1;
    default:
        string known = string.Join(", ", scenarios.Select(s => s.Name));
        Console.Error.WriteLine($"Unknown scenario '{string.Join(' ', args)}'; known: {known}, hosted, etcd.");
        return 2;
}

using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Balancing;
using RpcGen.Client;
using RpcGen.Descriptors;
using RpcGen.Etcd;

namespace RpcGen.Cli;

/// <summary>The commands: each connects, calls, prints, and returns the exit code (the call's status code).</summary>
internal static class Commands
{
    private static Argument<string> Address() => new("address") { Description = "The server, host:port." };

    public static Command List(CliOptions options)
    {
        Argument<string> address = Address();
        var command = new Command("list", "The services the server maps (its describe service).") { address };
        command.SetAction((parsed, cancellationToken) => RunAsync(options, parsed, parsed.GetValue(address)!, async (client, _) =>
        {
            JsonElement list = await client.ListServicesAsync(cancellationToken).ConfigureAwait(false);
            return list;
        }, table: list => Output.Table(
            new[] { "service", "methods" },
            list.GetProperty("services").EnumerateArray()
                .Select(s => new[] { s.GetProperty("name").GetString()!, s.GetProperty("methods").ToString() }))));
        return command;
    }

    public static Command Describe(CliOptions options)
    {
        Argument<string> address = Address();
        var service = new Argument<string?>("service") { Description = "One service (all when left out).", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("describe", "Services, methods, streaming shapes, policies and JSON schemas.") { address, service };
        command.SetAction((parsed, cancellationToken) => RunAsync(options, parsed, parsed.GetValue(address)!, async (client, _) =>
            await client.DescribeAsync(parsed.GetValue(service), cancellationToken).ConfigureAwait(false),
            table: document => Output.Table(
                new[] { "method", "streaming", "parameters", "result", "timeout", "policies" },
                document.GetProperty("services").EnumerateArray().SelectMany(s => s.GetProperty("methods").EnumerateArray().Select(m => new[]
                {
                    m.GetProperty("fullName").GetString()!,
                    m.GetProperty("streaming").GetString()!,
                    string.Join(", ", m.GetProperty("parameters").EnumerateArray().Select(Parameter)),
                    m.GetProperty("result") is { ValueKind: JsonValueKind.Object } r ? r.GetProperty("type").GetString()! : "-",
                    m.GetProperty("timeoutMs").GetInt32() is var t && t > 0 ? t + " ms" : "-",
                    Policies(m),
                })))));
        return command;
    }

    private static string Parameter(JsonElement p) =>
        $"{p.GetProperty("type").GetString()} {p.GetProperty("name").GetString()}{(p.GetProperty("required").GetBoolean() ? string.Empty : "?")}";

    private static string Policies(JsonElement method)
    {
        var policies = new List<string>();
        foreach (string flag in new[] { "noSideEffects", "idempotent", "deduplicate", "broadcast" })
        {
            if (method.GetProperty(flag).GetBoolean())
            {
                policies.Add(flag);
            }
        }

        foreach (string policy in new[] { "retry", "hedging", "circuitBreaker", "authorization", "resumeFrom" })
        {
            if (method.TryGetProperty(policy, out _))
            {
                policies.Add(policy);
            }
        }

        return policies.Count == 0 ? "-" : string.Join(", ", policies);
    }

    public static Command Call(CliOptions options)
    {
        Argument<string> address = Address();
        var method = new Argument<string>("method") { Description = "service/Method, as calc/Add." };
        var json = new Argument<string?>("arguments")
        {
            Description = "A JSON object of named arguments ('@file' reads a file, '-' stdin).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command("call", "Calls a method with JSON arguments and prints its result.") { address, method, json };
        command.SetAction((parsed, cancellationToken) => RunAsync(options, parsed, parsed.GetValue(address)!, async (client, _) =>
        {
            string[] contracts = parsed.GetValue(options.Contracts) ?? Array.Empty<string>();
            RpcMethodDescriptor descriptor =
                await MethodResolver.ResolveAsync(client, parsed.GetValue(method)!, contracts, cancellationToken).ConfigureAwait(false);
            if (descriptor.Streaming != RpcStreamingKind.None)
            {
                throw new CliException(ExitCodes.Usage, $"'{descriptor.FullName}' streams: use 'rpcgen stream'.");
            }

            ReadOnlyMemory<byte> arguments = ReadArguments(parsed.GetValue(json));
            JsonElement result = await client.InvokeJsonAsync(descriptor, arguments, null, cancellationToken).ConfigureAwait(false);
            return result;
        }, table: Output.TableOf));
        return command;
    }

    public static Command Stream(CliOptions options)
    {
        Argument<string> address = Address();
        var method = new Argument<string>("method") { Description = "service/Method, as prices/Watch." };
        var json = new Argument<string?>("arguments")
        {
            Description = "A JSON object of named arguments ('@file' reads a file).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command("stream", "Calls a streaming method: items out as NDJSON; the caller's items in as NDJSON on stdin.")
        {
            address, method, json,
        };
        command.SetAction((parsed, cancellationToken) =>
            RunStreamAsync(options, parsed, parsed.GetValue(address)!, parsed.GetValue(method)!, parsed.GetValue(json), cancellationToken));
        return command;
    }

    public static Command Health(CliOptions options)
    {
        Argument<string> address = Address();
        var command = new Command("health", "Pings the server: prints the round trip, or fails with Unavailable.") { address };
        command.SetAction((parsed, cancellationToken) => RunAsync(options, parsed, parsed.GetValue(address)!, async (client, _) =>
        {
            TimeSpan roundTrip = await client.PingAsync(client.Options.Endpoints[0], cancellationToken).ConfigureAwait(false);
            string milliseconds = roundTrip.TotalMilliseconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
            using var document = JsonDocument.Parse($"{{\"status\":\"serving\",\"roundTripMs\":{milliseconds}}}");
            return document.RootElement.Clone();
        }, table: Output.TableOf));
        return command;
    }

    public static Command Endpoints(CliOptions options)
    {
        var service = new Argument<string>("service") { Description = "The service name registered in etcd." };
        var etcd = new Option<string[]>("--etcd") { Description = "An etcd server's URL (repeatable).", Required = true };
        var prefix = new Option<string?>("--prefix") { Description = "The key prefix (default /rpcgen/services/)." };
        var command = new Command("endpoints", "What etcd discovery sees for a service, and each endpoint's answer to a ping.")
        {
            service, etcd, prefix,
        };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var etcdOptions = new EtcdOptions();
            foreach (string url in parsed.GetValue(etcd)!)
            {
                etcdOptions.Servers.Add(new Uri(url));
            }

            if (parsed.GetValue(prefix) is { } p)
            {
                etcdOptions.Prefix = p;
            }

            await using var source = new EtcdEndpointSource(etcdOptions, parsed.GetValue(service)!);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(parsed.GetValue(options.DeadlineMs) is int ms ? ms / 1000.0 : 10));
            try
            {
                await source.WaitForEndpointsAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
            {
                Console.Error.WriteLine($"ERROR: Unavailable: etcd gave no endpoints for '{parsed.GetValue(service)}': {ex.Message}");
                return (int)RpcStatusCode.Unavailable;
            }

            var rows = new List<string[]>();
            var json = new StringBuilder("{\"service\":").Append(Output.Quote(parsed.GetValue(service)!)).Append(",\"endpoints\":[");
            foreach (RpcEndpoint endpoint in source.Endpoints)
            {
                string answer;
                await using (RpcClient client = options.CreateClient(parsed, endpoint.ToString()))
                {
                    try
                    {
                        TimeSpan roundTrip = await client.PingAsync(client.Options.Endpoints[0], timeout.Token).ConfigureAwait(false);
                        answer = roundTrip.TotalMilliseconds.ToString("0.### ms", System.Globalization.CultureInfo.InvariantCulture);
                    }
                    catch (Exception ex) when (ex is RpcException or OperationCanceledException)
                    {
                        answer = "unreachable: " + ex.Message;
                    }
                }

                System.Globalization.CultureInfo invariant = System.Globalization.CultureInfo.InvariantCulture;
                rows.Add(new[]
                {
                    $"{endpoint.Host}:{endpoint.Port}", endpoint.Weight.ToString(invariant), endpoint.Zone ?? "-",
                    endpoint.Priority.ToString(invariant), answer,
                });
                json.Append(rows.Count > 1 ? "," : string.Empty).Append("{\"address\":").Append(Output.Quote(rows[^1][0]))
                    .Append(",\"weight\":").Append(endpoint.Weight)
                    .Append(",\"zone\":").Append(endpoint.Zone is null ? "null" : Output.Quote(endpoint.Zone))
                    .Append(",\"priority\":").Append(endpoint.Priority).Append(",\"ping\":").Append(Output.Quote(answer)).Append('}');
            }

            json.Append("]}");
            if (parsed.GetValue(options.Output) == "table")
            {
                Output.Table(new[] { "address", "weight", "zone", "priority", "ping" }, rows);
            }
            else
            {
                using var document = JsonDocument.Parse(json.ToString());
                Output.Json(document.RootElement);
            }

            return 0;
        });
        return command;
    }

    /// <summary>
    /// Connects, runs <paramref name="call"/> in a scope with the command line's headers and deadline, prints, and maps
    /// failures to exit codes.
    /// </summary>
    private static async Task<int> RunAsync(
        CliOptions options, ParseResult parsed, string address, Func<RpcClient, RpcCallScope, Task<JsonElement?>> call, Action<JsonElement> table)
    {
        var elapsed = Stopwatch.StartNew();
        RpcCallScope? scope = null;
        try
        {
            await using RpcClient client = options.CreateClient(parsed, address);
            scope = options.BeginScope(parsed);
            JsonElement? result = await call(client, scope).ConfigureAwait(false); // null: printed as it came (a stream)
            if (parsed.GetValue(options.Full))
            {
                Output.Envelope(RpcStatusCode.OK, null, scope, elapsed.Elapsed, result ?? default);
            }
            else if (result is { } value && parsed.GetValue(options.Output) == "table")
            {
                table(value);
            }
            else if (result is { } json)
            {
                Output.Json(json);
            }

            return 0;
        }
        catch (RpcException ex)
        {
            if (parsed.GetValue(options.Full))
            {
                Output.Envelope(ex.StatusCode, ex.Message, scope, elapsed.Elapsed, default);
            }

            Console.Error.WriteLine($"ERROR: {ex.StatusCode}: {ex.Message}");
            return (int)ex.StatusCode;
        }
        catch (CliException ex)
        {
            Console.Error.WriteLine("ERROR: " + ex.Message);
            return ex.ExitCode;
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine("ERROR: " + ex.Message);
            return ExitCodes.Usage;
        }
        finally
        {
            scope?.Dispose();
        }
    }

    private static Task<int> RunStreamAsync(
        CliOptions options, ParseResult parsed, string address, string method, string? arguments, CancellationToken cancellationToken) =>
        RunAsync(options, parsed, address, async (client, _) =>
        {
            string[] contracts = parsed.GetValue(options.Contracts) ?? Array.Empty<string>();
            RpcMethodDescriptor descriptor = await MethodResolver.ResolveAsync(client, method, contracts, cancellationToken).ConfigureAwait(false);
            IAsyncEnumerable<JsonElement>? input = descriptor.Streaming is RpcStreamingKind.Client or RpcStreamingKind.Duplex
                ? ReadItems(Console.In, cancellationToken)
                : null;
            ReadOnlyMemory<byte> json = ReadArguments(arguments);
            switch (descriptor.Streaming)
            {
                case RpcStreamingKind.Server or RpcStreamingKind.Duplex:
                    await foreach (RpcJsonItem item in client.StreamJsonAsync(descriptor, json, input, cancellationToken).ConfigureAwait(false))
                    {
                        Output.Line(item.Value);
                    }

                    return null;
                case RpcStreamingKind.Client:
                    Output.Line(await client.InvokeJsonAsync(descriptor, json, input, cancellationToken).ConfigureAwait(false));
                    return null;
                default:
                    throw new CliException(ExitCodes.Usage, $"'{descriptor.FullName}' does not stream: use 'rpcgen call'.");
            }
        }, table: Output.TableOf);

    /// <summary>The arguments: inline JSON, '@file', '-' for stdin, or none ("{}").</summary>
    private static ReadOnlyMemory<byte> ReadArguments(string? text)
    {
        try
        {
            return text switch
            {
                null or "" => "{}"u8.ToArray(),
                "-" => Encoding.UTF8.GetBytes(Console.In.ReadToEnd()),
                ['@', .. string path] => File.ReadAllBytes(path),
                _ => Encoding.UTF8.GetBytes(text),
            };
        }
        catch (IOException ex)
        {
            throw new CliException(ExitCodes.Data, $"The arguments could not be read: {ex.Message}");
        }
    }

    /// <summary>The caller's stream: one JSON value per line of stdin (blank lines skipped), until its end.</summary>
    private static async IAsyncEnumerable<JsonElement> ReadItems(TextReader input, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        int line = 0;
        while (await input.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            JsonElement item;
            try
            {
                using var document = JsonDocument.Parse(text);
                item = document.RootElement.Clone();
            }
            catch (JsonException ex)
            {
                throw new CliException(ExitCodes.Data, $"Line {line} of stdin is not JSON: {ex.Message}");
            }

            yield return item;
        }
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Client;
using RpcGen.Descriptors;
using RpcGen.Resilience;

namespace RpcGen.Cli;

/// <summary>
/// Finds the descriptor of <c>service/Method</c>: from contract assemblies when given (the generated descriptors, policies
/// and all), else from the server's describe service (version 1 of its document).
/// </summary>
internal static class MethodResolver
{
    public static async Task<RpcMethodDescriptor> ResolveAsync(
        RpcClient client, string fullName, string[] contracts, CancellationToken cancellationToken)
    {
        int slash = fullName.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == fullName.Length - 1)
        {
            throw new CliException(ExitCodes.Usage, $"A method is 'service/Method' (as 'calc/Add'), not '{fullName}'.");
        }

        string service = fullName[..slash];
        string method = fullName[(slash + 1)..];
        RpcServiceDescriptor descriptor = contracts.Length > 0
            ? FromContracts(contracts, service)
            : await FromDescribeAsync(client, service, cancellationToken).ConfigureAwait(false);
        return descriptor.Methods.FirstOrDefault(m => m.Name == method)
            ?? throw new CliException((int)RpcStatusCode.NotFound,
                $"Service '{service}' has no method '{method}'; its methods are: {string.Join(", ", descriptor.Methods.Select(m => m.Name))}.");
    }

    /// <summary>Loads the contract assemblies (their module initializers register the generated descriptors).</summary>
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage(
        "Trimming", "IL2026", Justification = "rpcgen is framework-dependent: it loads contract assemblies.")]
    public static RpcServiceDescriptor FromContracts(string[] paths, string service)
    {
        foreach (string path in paths)
        {
            Assembly assembly;
            try
            {
                assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(System.IO.Path.GetFullPath(path));
            }
            catch (Exception ex) when (ex is System.IO.IOException or BadImageFormatException)
            {
                throw new CliException(ExitCodes.Data, $"--contracts '{path}' could not be loaded: {ex.Message}");
            }

            RuntimeHelpers.RunModuleConstructor(assembly.ManifestModule.ModuleHandle);
        }

        List<RpcServiceDescriptor> services = RpcServiceRegistry.Services.ToList();
        return services.FirstOrDefault(s => s.Name == service)
            ?? throw new CliException((int)RpcStatusCode.NotFound,
                $"The contracts have no service '{service}'; they have: {string.Join(", ", services.Select(s => s.Name))}.");
    }

    private static async Task<RpcServiceDescriptor> FromDescribeAsync(RpcClient client, string service, CancellationToken cancellationToken)
    {
        JsonElement document;
        try
        {
            document = await client.DescribeAsync(service, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode == RpcStatusCode.Unimplemented)
        {
            throw new CliException((int)RpcStatusCode.Unimplemented,
                "The server does not serve describe (RpcServerOptions.EnableDescribe): pass the contracts with --contracts path/to/Contracts.dll.");
        }

        return FromDocument(document);
    }

    /// <summary>A descriptor from version 1 of the describe document: names, shapes and policies, without generated code.</summary>
    public static RpcServiceDescriptor FromDocument(JsonElement document)
    {
        if (!document.TryGetProperty("version", out JsonElement version) || version.GetInt32() != 1)
        {
            throw new CliException(ExitCodes.Data, "The server's describe document is not version 1, the one this rpcgen reads: update rpcgen.");
        }

        JsonElement service = document.GetProperty("services")[0];
        var methods = new List<RpcMethodDescriptor>();
        foreach (JsonElement method in service.GetProperty("methods").EnumerateArray())
        {
            var parameters = method.GetProperty("parameters").EnumerateArray()
                .Select(p => new RpcParameterDescriptor(
                    p.GetProperty("name").GetString()!, p.GetProperty("type").GetString()!, !p.GetProperty("required").GetBoolean()))
                .ToArray();
            string? result = method.GetProperty("result") is { ValueKind: JsonValueKind.Object } r ? r.GetProperty("type").GetString() : null;
            string? item = method.GetProperty("requestItem") is { ValueKind: JsonValueKind.Object } i ? i.GetProperty("type").GetString() : null;
            RpcStreamingKind streaming = method.GetProperty("streaming").GetString() switch
            {
                "server" => RpcStreamingKind.Server,
                "client" => RpcStreamingKind.Client,
                "duplex" => RpcStreamingKind.Duplex,
                _ => RpcStreamingKind.None,
            };
            RpcReturnKind returns = streaming is RpcStreamingKind.Server or RpcStreamingKind.Duplex
                ? RpcReturnKind.AsyncEnumerable
                : result is null ? RpcReturnKind.Task : RpcReturnKind.TaskOfT;
            methods.Add(new RpcMethodDescriptor(
                methods.Count,
                method.GetProperty("name").GetString()!,
                method.GetProperty("clrName").GetString()!,
                parameters,
                result,
                returns,
                hasCancellationToken: true,
                method.GetProperty("timeoutMs").GetInt32(),
                loadBalance: method.TryGetProperty("loadBalance", out JsonElement balance) &&
                    Enum.TryParse(balance.GetString(), out LoadBalanceStrategy strategy) ? strategy : null,
                hashKeyParameters: method.TryGetProperty("hashKey", out JsonElement keys)
                    ? keys.EnumerateArray().Select(k => k.GetString()!).ToArray()
                    : null,
                idempotent: method.GetProperty("idempotent").GetBoolean(),
                deduplicate: method.GetProperty("deduplicate").GetBoolean(),
                broadcast: method.GetProperty("broadcast").GetBoolean(),
                retry: method.TryGetProperty("retry", out JsonElement retry) ? Retry(retry) : null,
                hedging: method.TryGetProperty("hedging", out JsonElement hedging)
                    ? new RpcHedgingPolicy
                    {
                        MaxAttempts = hedging.GetProperty("maxAttempts").GetInt32(),
                        DelayMs = hedging.GetProperty("delayMs").GetInt32(),
                        AdaptiveDelay = hedging.GetProperty("adaptiveDelay").GetBoolean(),
                    }
                    : null,
                streaming: streaming,
                requestItemType: item,
                resumeFromParameter: method.TryGetProperty("resumeFrom", out JsonElement resume) ? resume.GetString() : null,
                noSideEffects: method.GetProperty("noSideEffects").GetBoolean(),
                compression: method.TryGetProperty("compression", out JsonElement compression) ? Compression(compression) : null));
        }

        return new RpcServiceDescriptor(service.GetProperty("name").GetString()!, typeof(object), methods.ToArray());
    }

    /// <summary>The method's [Compress], so a call from here compresses what a proxy's would.</summary>
    private static RpcCompressionPolicy Compression(JsonElement compression) => new()
    {
        Algorithm = compression.GetProperty("algorithm").GetString() switch
        {
            "gzip" => RpcCompression.Gzip,
            "brotli" => RpcCompression.Brotli,
            "zstd" => RpcCompression.Zstd,
            var other => throw new CliException(
                ExitCodes.Data, $"The describe document names compression '{other}', which this rpcgen does not know: update rpcgen."),
        },
        MinSize = compression.GetProperty("minSize").GetInt32(),
        Level = Enum.Parse<System.IO.Compression.CompressionLevel>(compression.GetProperty("level").GetString()!),
        AllowOverTls = compression.GetProperty("allowOverTls").GetBoolean(),
    };

    private static RpcRetryPolicy Retry(JsonElement retry) => new()
    {
        MaxAttempts = retry.GetProperty("maxAttempts").GetInt32(),
        InitialBackoffMs = retry.GetProperty("initialBackoffMs").GetInt32(),
        MaxBackoffMs = retry.GetProperty("maxBackoffMs").GetInt32(),
        BackoffMultiplier = retry.GetProperty("backoffMultiplier").GetDouble(),
        PerAttemptTimeoutMs = retry.GetProperty("perAttemptTimeoutMs").GetInt32(),
        RetryableStatusCodes = retry.GetProperty("retryableStatusCodes").EnumerateArray()
            .Select(c => Enum.Parse<RpcStatusCode>(c.GetString()!)).ToArray(),
    };
}

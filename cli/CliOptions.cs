using System;
using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using RpcGen.Balancing;
using RpcGen.Client;

namespace RpcGen.Cli;

/// <summary>The options every command takes: how to connect (TLS, token), what to send (headers, deadline), how to print.</summary>
internal sealed class CliOptions
{
    public Option<bool> Tls { get; } = new("--tls") { Description = "Connect with TLS (implied by --ca and --cert).", Recursive = true };

    public Option<string?> Ca { get; } = new("--ca")
    {
        Description = "PEM file of the certificate authorities the server's certificate must chain to.",
        Recursive = true,
    };

    public Option<string?> Cert { get; } = new("--cert")
    {
        Description = "PEM file of the client certificate (mutual TLS); with --key.",
        Recursive = true,
    };

    public Option<string?> Key { get; } = new("--key") { Description = "PEM file of the client certificate's private key.", Recursive = true };

    public Option<string?> Token { get; } = new("--token")
    {
        Description = "A bearer token, sent as 'authorization: Bearer <token>' (over TLS only).",
        Recursive = true,
    };

    public Option<bool> PlaintextToken { get; } = new("--allow-plaintext-token")
    {
        Description = "Send --token over plain TCP too (anyone on the path can read it).",
        Recursive = true,
    };

    public Option<string[]> Headers { get; } = new("--header", "-H")
    {
        Description = "A request header 'key: value' (repeatable); keys ending in -bin take base64.",
        Recursive = true,
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<int?> DeadlineMs { get; } = new("--deadline-ms") { Description = "The call's deadline in milliseconds.", Recursive = true };

    public Option<string> Output { get; } = new("--output", "-o")
    {
        Description = "json (default) or table.",
        Recursive = true,
        DefaultValueFactory = _ => "json",
    };

    public Option<bool> Full { get; } = new("--full")
    {
        Description = "Print the envelope: status, headers, trailers, timing, and the result.",
        Recursive = true,
    };

    public Option<string[]> Contracts { get; } = new("--contracts")
    {
        Description = "Assemblies with the [RpcService] interfaces, when the server does not serve describe (repeatable).",
        Recursive = true,
    };

    public void AddTo(RootCommand root)
    {
        Output.AcceptOnlyFromAmong("json", "table");
        foreach (Option option in new Option[] { Tls, Ca, Cert, Key, Token, PlaintextToken, Headers, DeadlineMs, Output, Full, Contracts })
        {
            root.Options.Add(option);
        }
    }

    /// <summary>A client of the server at <paramref name="address"/> ("host:port"), with the command line's TLS and token.</summary>
    public RpcClient CreateClient(ParseResult parsed, string address)
    {
        var options = new RpcClientOptions { Name = "rpcgen" };
        options.Endpoints.Add(RpcEndpoint.Parse(address));
        string? ca = parsed.GetValue(Ca);
        string? cert = parsed.GetValue(Cert);
        if (parsed.GetValue(Tls) || ca is not null || cert is not null)
        {
            var tls = new RpcClientTlsOptions();
            if (ca is not null)
            {
                var authorities = new X509Certificate2Collection();
                authorities.ImportFromPemFile(ca);
                tls.CertificateAuthorities = authorities;
            }

            if (cert is not null)
            {
                tls.ClientCertificate = X509Certificate2.CreateFromPemFile(cert, parsed.GetValue(Key) ??
                    throw new CliException(ExitCodes.Usage, "--cert needs --key, the certificate's private key."));
            }

            options.Tls = tls;
        }

        if (parsed.GetValue(Token) is { } token)
        {
            options.Credentials = RpcCallCredentials.BearerToken(_ => new System.Threading.Tasks.ValueTask<string>(token));
            options.AllowCredentialsOverPlainText = parsed.GetValue(PlaintextToken);
        }

        return new RpcClient(options);
    }

    /// <summary>A scope carrying the command line's headers and deadline for the calls made in it.</summary>
    public RpcCallScope BeginScope(ParseResult parsed)
    {
        RpcCallScope scope = RpcCallScope.Begin();
        foreach (string header in parsed.GetValue(Headers) ?? Array.Empty<string>())
        {
            int colon = header.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new CliException(ExitCodes.Usage, $"A header is 'key: value', not '{header}'.");
            }

            string key = header[..colon].Trim();
            string value = header[(colon + 1)..].Trim();
            try
            {
                if (key.EndsWith(RpcMetadata.BinarySuffix, StringComparison.OrdinalIgnoreCase))
                {
                    scope.RequestHeaders.Add(key, Convert.FromBase64String(value));
                }
                else
                {
                    scope.RequestHeaders.Add(key, value);
                }
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException)
            {
                throw new CliException(ExitCodes.Usage, $"The header '{header}' cannot be sent: {ex.Message}");
            }
        }

        if (parsed.GetValue(DeadlineMs) is int deadline)
        {
            if (deadline <= 0)
            {
                throw new CliException(ExitCodes.Usage, "--deadline-ms is a positive number of milliseconds.");
            }

            scope.Timeout = TimeSpan.FromMilliseconds(deadline);
        }

        return scope;
    }
}

/// <summary>A failure the tool reports with its own message and exit code.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

using System;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RpcGen.Admin;

namespace RpcGen.Hosting;

/// <summary>
/// Runs RpcGen's admin page (<see cref="RpcAdminListener"/>) for the host's lifetime: registered by
/// <c>services.AddRpcAdmin()</c>, options from code or the <c>RpcGen:Admin</c> section (<c>Port</c>,
/// <c>AllowRemote</c>, <c>AccessToken</c>).
/// </summary>
public sealed class RpcAdminHost : IHostedService, IAsyncDisposable
{
    private readonly IOptions<RpcAdminOptions> _options;
    private RpcAdminListener? _listener;

    /// <summary>Created by DI.</summary>
    public RpcAdminHost(IOptions<RpcAdminOptions> options) => _options = options;

    /// <summary>Where the page is once the host started: <c>http://127.0.0.1:{port}/</c>; null before.</summary>
    public Uri? Address => Volatile.Read(ref _listener)?.Address;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Volatile.Write(ref _listener, RpcAdminListener.Start(_options.Value));
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync().ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _listener, null) is { } listener)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Reads the <c>RpcGen:Admin</c> section: <c>Port</c>, <c>AllowRemote</c>, <c>AccessToken</c>.</summary>
internal sealed class ConfigureAdminOptions : IConfigureOptions<RpcAdminOptions>
{
    private readonly IConfiguration? _configuration;

    public ConfigureAdminOptions(IServiceProvider services) =>
        _configuration = (IConfiguration?)services.GetService(typeof(IConfiguration));

    public void Configure(RpcAdminOptions options)
    {
        if (_configuration?.GetSection("RpcGen:Admin") is not { } section)
        {
            return;
        }

        if (section["Port"] is { } port)
        {
            options.Port = int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
                ? value
                : throw Invalid("Port", $"a port number, not '{port}'");
        }

        if (section["AllowRemote"] is { } remote)
        {
            options.AllowRemote = bool.TryParse(remote, out bool value) ? value : throw Invalid("AllowRemote", $"true or false, not '{remote}'");
        }

        if (section["AccessToken"] is { } token)
        {
            options.AccessToken = token;
        }
    }

    private static OptionsValidationException Invalid(string key, string what) =>
        new("RpcGen:Admin:" + key, typeof(RpcAdminOptions), new[] { $"RpcGen:Admin:{key} must be {what}." });
}

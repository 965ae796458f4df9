using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RpcGen.Server;

namespace RpcGen.Hosting;

/// <summary>
/// The hosted RpcGen server (registered by <c>AddRpcServer</c>): started when the host starts, drained when it stops.
/// Resolve it to read <see cref="Server"/> (its bound endpoints, in-flight count) once the host has started.
/// </summary>
public sealed class RpcServerHost : IHostedService, IAsyncDisposable
{
    private readonly IServiceProvider _services;
    private readonly IOptions<RpcServerOptions> _options;
    private readonly IOptions<RpcServerRegistration> _registration;
    private readonly ILogger _logger;
    private RpcServer? _server;

    /// <summary>Created by DI.</summary>
    public RpcServerHost(IServiceProvider services, IOptions<RpcServerOptions> options, ILoggerFactory? loggerFactory = null)
    {
        _services = services;
        _options = options;
        _registration = (IOptions<RpcServerRegistration>)services.GetService(typeof(IOptions<RpcServerRegistration>))!;
        _logger = loggerFactory?.CreateLogger("RpcGen.Hosting") ?? NullLogger.Instance;
    }

    /// <summary>The running server, or null before the host started it.</summary>
    public RpcServer? Server => Volatile.Read(ref _server);

    /// <summary>True while the server is stopping or stopped: readiness reports it unhealthy.</summary>
    public bool IsDraining => Server is { IsStopped: true };

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        RpcServerOptions options = _options.Value;
        RpcServerRegistration registration = _registration.Value;
        foreach (Func<IServiceProvider, RpcServerInterceptor> interceptor in registration.Interceptors)
        {
            options.Interceptors.Add(interceptor(_services));
        }

        if (registration.Authenticator is { } authenticator)
        {
            options.Authenticator = authenticator(_services);
        }

        (options.LoggerFactory, options.TimeProvider) = HostServices.Fill(_services, options.LoggerFactory, options.TimeProvider);

        var server = new RpcServer(options);
        if (registration.Mappings.Count == 0)
        {
            throw new InvalidOperationException("AddRpcServer() was called but no service is mapped: add .MapService<TService, TImplementation>().");
        }

        foreach (Action<RpcServer, IServiceProvider> map in registration.Mappings)
        {
            map(server, _services);
        }

        await server.StartAsync(cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _server, server);
    }

    /// <summary>
    /// Drains: the server stops accepting, tells clients to go elsewhere (goaway), refuses new calls as not processed
    /// (so clients retry them on other servers) and lets calls in flight finish. When the host's shutdown timeout fires
    /// first (<paramref name="cancellationToken"/>), the calls still running are cancelled and their connections closed.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Server is { } server)
        {
            HostingLog.ServerDraining(_logger, server.InFlight);
            await server.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _server, null) is { } server)
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Binds <c>RpcGen:Server</c> onto the server's options (when the container has an IConfiguration).</summary>
internal sealed class ConfigureServerOptions : IConfigureOptions<RpcServerOptions>
{
    public const string Path = "RpcGen:Server";
    private readonly IServiceProvider _services;

    public ConfigureServerOptions(IServiceProvider services) => _services = services;

    public void Configure(RpcServerOptions options)
    {
        if (_services.GetService(typeof(IConfiguration)) is IConfiguration configuration && configuration.GetSection(Path) is { } section && section.Exists())
        {
            options.ApplyConfiguration(section); // throws an ArgumentException naming the key: the host does not start
        }
    }
}

/// <summary>The server's options are checked when the host starts (ValidateOnStart), with the message naming the setting.</summary>
internal sealed class ValidateServerOptions : IValidateOptions<RpcServerOptions>
{
    public ValidateOptionsResult Validate(string? name, RpcServerOptions options)
    {
        try
        {
            options.Validate();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException ex)
        {
            return ValidateOptionsResult.Fail($"RpcGen server (configuration section '{ConfigureServerOptions.Path}'): {ex.Message}");
        }
    }
}

using System;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using RpcGen.Client;

namespace RpcGen.Hosting;

/// <summary>
/// Binding and validation of named client options that never throw from a configuration reload. Options validation
/// that fails inside <c>IOptionsMonitor</c>'s reload callback throws on the configuration provider's thread (a file
/// watcher's), which can end the process; so a name's options fail validation only until they passed once (that is
/// <c>ValidateOnStart</c>'s check, and the first client creation). After that, a bad reload is recorded against its
/// options instance, and the factory logs it and keeps the running client's settings.
/// </summary>
internal sealed class ClientOptionsState
{
    private readonly ConditionalWeakTable<RpcClientOptions, string> _errors = new();
    private readonly ConcurrentDictionary<string, bool> _validatedOnce = new(StringComparer.Ordinal);

    public static string ConfigurationPath(string name) => "RpcGen:Clients:" + name;

    public void Record(RpcClientOptions options, string error) => _errors.AddOrUpdate(options, error);

    public string? ErrorOf(RpcClientOptions options)
    {
        if (_errors.TryGetValue(options, out string? error))
        {
            return error;
        }

        try
        {
            options.Validate();
            return null;
        }
        catch (ArgumentException ex)
        {
            _errors.AddOrUpdate(options, ex.Message);
            return ex.Message;
        }
    }

    public ValidateOptionsResult Validate(string name, RpcClientOptions options)
    {
        string? error = ErrorOf(options);
        if (error is null)
        {
            _validatedOnce[name] = true;
            return ValidateOptionsResult.Success;
        }

        // Once valid, a reload's error is the factory's to report (see the summary), not an exception on a watcher's thread.
        return _validatedOnce.ContainsKey(name) ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(Describe(name, error));
    }

    public void ThrowIfInvalid(RpcClientOptions options, string name)
    {
        if (ErrorOf(options) is { } error)
        {
            throw new OptionsValidationException(name, typeof(RpcClientOptions), new[] { Describe(name, error) });
        }
    }

    private static string Describe(string name, string error) =>
        $"RpcGen client '{name}' (configuration section '{ConfigurationPath(name)}'): {error}";
}

/// <summary>Binds <c>RpcGen:Clients:{name}</c> onto the named options (when the container has an IConfiguration).</summary>
internal sealed class ConfigureClientOptions : IConfigureNamedOptions<RpcClientOptions>
{
    private readonly IServiceProvider _services;
    private readonly ClientOptionsState _state;

    public ConfigureClientOptions(IServiceProvider services, ClientOptionsState state)
    {
        _services = services;
        _state = state;
    }

    public void Configure(RpcClientOptions options) => Configure(Options.DefaultName, options);

    public void Configure(string? name, RpcClientOptions options)
    {
        if (name is null || _services.GetService(typeof(IConfiguration)) is not IConfiguration configuration)
        {
            return;
        }

        IConfigurationSection section = configuration.GetSection(ClientOptionsState.ConfigurationPath(name));
        if (!section.Exists())
        {
            return;
        }

        try
        {
            options.ApplyConfiguration(section);
        }
        catch (ArgumentException ex)
        {
            _state.Record(options, ex.Message); // the message names the key; validation reports it (see ClientOptionsState)
        }
    }
}

/// <summary>Validates the named options of every registered client (see <see cref="ClientOptionsState"/>).</summary>
internal sealed class ValidateClientOptions : IValidateOptions<RpcClientOptions>
{
    private readonly ClientOptionsState _state;

    public ValidateClientOptions(ClientOptionsState state) => _state = state;

    public ValidateOptionsResult Validate(string? name, RpcClientOptions options) => _state.Validate(name ?? Options.DefaultName, options);
}

/// <summary>Tells IOptionsMonitor when <c>RpcGen:Clients:{name}</c> changed (configuration is looked up when asked).</summary>
internal sealed class ClientOptionsChangeTokenSource : IOptionsChangeTokenSource<RpcClientOptions>
{
    private readonly IServiceProvider _services;

    public ClientOptionsChangeTokenSource(IServiceProvider services, string name)
    {
        _services = services;
        Name = name;
    }

    public string Name { get; }

    public Microsoft.Extensions.Primitives.IChangeToken GetChangeToken() =>
        _services.GetService(typeof(IConfiguration)) is IConfiguration configuration
            ? configuration.GetSection(ClientOptionsState.ConfigurationPath(Name)).GetReloadToken()
            : new Microsoft.Extensions.Primitives.CancellationChangeToken(System.Threading.CancellationToken.None);
}

using System;
using System.Collections.Generic;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using RpcGen.Balancing;
using RpcGen.Resilience;

namespace RpcGen.Client;

/// <summary>
/// How an <see cref="RpcClient"/> connects and calls: where the servers are, then three groups that mirror the
/// configuration sections (<see cref="Connection"/>, <see cref="Balancing"/>, <see cref="Resilience"/>), then the
/// serializer, clock and logging.
/// </summary>
public sealed class RpcClientOptions
{
    /// <summary>
    /// The client's name in telemetry (tag <c>rpcgen.client.name</c> of the balancer gauges), so two clients calling
    /// the same servers are told apart. RpcGen.Hosting sets it to the client's registered name. The default value is
    /// none ("default").
    /// </summary>
    public string? Name { get; set; }

    /// <summary>The servers to call (with their weights and zones), when they are fixed.</summary>
    public IList<RpcEndpoint> Endpoints { get; } = new List<RpcEndpoint>();

    /// <summary>
    /// A feed of endpoints that may change at run time; used instead of <see cref="Endpoints"/> when set. The default
    /// value is none.
    /// </summary>
    public IRpcEndpointSource? EndpointSource { get; set; }

    /// <summary>
    /// Headers sent with every call of this client (an API key, the caller's name…), before those of an
    /// <see cref="RpcCallScope"/>. Set them before the first call. Code only (not read from configuration).
    /// </summary>
    public RpcMetadata DefaultRequestHeaders { get; } = new();

    /// <summary>
    /// Code run around every call and every attempt, in this order (the first outermost); fixed when the client is
    /// created. None by default, and then a call pays nothing for the feature.
    /// </summary>
    public IList<RpcClientInterceptor> Interceptors { get; } = new List<RpcClientInterceptor>();

    /// <summary>Frame size, connect timeout, reconnection backoff, keepalive, metadata size.</summary>
    public ConnectionOptions Connection { get; } = new();

    /// <summary>
    /// TLS (and mutual TLS) for the connections to TCP endpoints. Code only (not read from configuration). The default
    /// value is none: plain TCP.
    /// </summary>
    public RpcClientTlsOptions? Tls { get; set; }

    /// <summary>Credentials added to every attempt (a bearer token…). Code only. The default value is none.</summary>
    public RpcCallCredentials? Credentials { get; set; }

    /// <summary>
    /// Lets <see cref="Credentials"/> travel over plain TCP, where anyone on the path can read them. The default value is
    /// false: a call that would send them in the clear fails with Unauthenticated instead (TLS and in-process
    /// endpoints are fine).
    /// </summary>
    public bool AllowCredentialsOverPlainText { get; set; }

    /// <summary>Strategy overrides, locality, load-aware tuning, outlier detection, slow start.</summary>
    public LoadBalancingOptions Balancing { get; } = new();

    /// <summary>The default deadline, policy overrides, the retry budget, your own Polly.Core strategies.</summary>
    public ResilienceOptions Resilience { get; } = new();

    /// <summary>
    /// Serializer options for arguments and results. Pass options whose <c>TypeInfoResolver</c> is a source-generated
    /// <c>JsonSerializerContext</c> for trimming and Native AOT. The default value is <see cref="JsonSerializerDefaults.Web"/> options.
    /// </summary>
    public JsonSerializerOptions? SerializerOptions { get; set; }

    /// <summary>The clock for deadlines, backoff, health and keepalive. The default value is <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Where connection events are logged. The default value is none.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// Checks every setting as <see cref="RpcClient"/>'s constructor does; throws an <see cref="ArgumentException"/>
    /// that names the first invalid one. For validation at start-up (RpcGen.Hosting's <c>ValidateOnStart</c>).
    /// </summary>
    public void Validate()
    {
        if (Endpoints.Count == 0 && EndpointSource is null)
        {
            throw new ArgumentException("RpcClientOptions.Endpoints is empty: add at least one server endpoint, or set EndpointSource.", nameof(Endpoints));
        }

        Connection.Validate();
        Tls?.Validate();
        Balancing.Validate();
        Resilience.Validate();
    }
}

using System;
using System.Collections.Generic;

namespace RpcGen.Etcd;

/// <summary>Where etcd is and where RpcGen keeps its registry in it.</summary>
public sealed class EtcdOptions
{
    /// <summary>The etcd cluster's client URLs (<c>http://10.0.0.2:2379</c>); tried in turn when one fails.</summary>
    public IList<Uri> Servers { get; } = new List<Uri>();

    /// <summary>
    /// The key prefix of the registry: a service's endpoints are <c>{Prefix}{service}/{host}:{port}</c>. The default
    /// value is <c>/rpcgen/services/</c>.
    /// </summary>
    public string Prefix { get; set; } = "/rpcgen/services/";

    /// <summary>How long to wait before trying etcd again after a failure. The default value is 1 second.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The deadline of one request to etcd (a read, a put, a lease grant). The default value is 5 seconds.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    internal void Validate()
    {
        if (Servers.Count == 0)
        {
            throw new ArgumentException("EtcdOptions.Servers is empty: add the URL of at least one etcd server (http://host:2379).", nameof(Servers));
        }

        if (string.IsNullOrEmpty(Prefix) || !Prefix.EndsWith('/'))
        {
            throw new ArgumentException($"EtcdOptions.Prefix '{Prefix}' must end with '/'.", nameof(Prefix));
        }

        if (RetryInterval <= TimeSpan.Zero || RequestTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(RetryInterval), "EtcdOptions.RetryInterval and RequestTimeout must be positive.");
        }
    }

    /// <summary>The key prefix of one service's endpoints.</summary>
    internal string ServicePrefix(string service) => Prefix + service + "/";
}

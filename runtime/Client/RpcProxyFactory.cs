using System;
using System.ComponentModel;

namespace RpcGen.Client;

/// <summary>The generated proxy of <typeparamref name="TService"/>, registered by generated module initializers.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class RpcProxyFactory<TService>
    where TService : class
{
    private static Func<RpcCallInvoker, TService>? s_create;

    /// <summary>Registers the generated proxy's constructor (the first registration wins).</summary>
    public static void Register(Func<RpcCallInvoker, TService> create) => System.Threading.Interlocked.CompareExchange(ref s_create, create, null);

    internal static TService Create(RpcCallInvoker invoker) =>
        (s_create ?? throw new InvalidOperationException($"No RpcGen proxy was generated for '{typeof(TService).FullName}'."))(invoker);
}

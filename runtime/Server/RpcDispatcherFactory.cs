using System;
using System.ComponentModel;

namespace RpcGen.Server;

/// <summary>The generated dispatcher of <typeparamref name="TService"/>, registered by generated module initializers.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class RpcDispatcherFactory<TService>
    where TService : class
{
    private static Func<RpcServiceActivator<TService>, RpcDispatcherContext, RpcServiceDispatcher>? s_create;

    /// <summary>Registers the generated dispatcher's constructor (the first registration wins).</summary>
    public static void Register(Func<RpcServiceActivator<TService>, RpcDispatcherContext, RpcServiceDispatcher> create) =>
        System.Threading.Interlocked.CompareExchange(ref s_create, create, null);

    internal static RpcServiceDispatcher Create(RpcServiceActivator<TService> activator, RpcDispatcherContext context) =>
        (s_create ?? throw new InvalidOperationException($"No RpcGen dispatcher was generated for '{typeof(TService).FullName}'."))(activator, context);
}

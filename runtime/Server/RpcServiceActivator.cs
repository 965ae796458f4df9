using System;
using System.ComponentModel;

namespace RpcGen.Server;

/// <summary>
/// Gives the generated dispatcher of <typeparamref name="TService"/> the implementation to run each call on: one
/// instance for every call (<see cref="Singleton"/>, what <see cref="RpcServer.Map{TService}(TService)"/> uses), or
/// a new one per call (<see cref="PerCall"/>, or a subclass: RpcGen.Hosting resolves it from a DI scope that ends
/// with the call). An instance made for a call can be handed to
/// <see cref="RpcCallContext.RegisterForDisposeAsync(IAsyncDisposable)"/> to be disposed once the call has ended.
/// </summary>
/// <typeparam name="TService">The <c>[RpcService]</c> interface.</typeparam>
public abstract class RpcServiceActivator<TService>
    where TService : class
{
    private readonly TService? _singleton;

    /// <summary>For subclasses that make an implementation per call (<see cref="Activate"/>).</summary>
    protected RpcServiceActivator()
    {
    }

    private RpcServiceActivator(TService singleton) => _singleton = singleton;

    /// <summary>Serves every call with <paramref name="implementation"/>.</summary>
    public static RpcServiceActivator<TService> Singleton(TService implementation)
    {
        ArgumentNullException.ThrowIfNull(implementation);
        return new SingletonActivator(implementation);
    }

    /// <summary>
    /// Serves each call with what <paramref name="create"/> returns for it; when that is <see cref="IAsyncDisposable"/>
    /// or <see cref="IDisposable"/>, it is disposed once the call has ended (its response sent or its error).
    /// </summary>
    public static RpcServiceActivator<TService> PerCall(Func<RpcCallContext, TService> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        return new PerCallActivator(create);
    }

    /// <summary>
    /// The implementation for the call <paramref name="context"/> describes, on the handler's path with the context
    /// current. What it throws fails the call (status Unknown, logged by the server like a handler's exception).
    /// </summary>
    protected abstract TService Activate(RpcCallContext context);

    /// <summary>The implementation for <paramref name="call"/> (called by generated dispatchers).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public TService Get(RpcServerCall call)
    {
        call.ArgumentsRead();
        return _singleton ?? Activate(call.ContextForActivation());
    }

    private sealed class SingletonActivator : RpcServiceActivator<TService>
    {
        public SingletonActivator(TService implementation)
            : base(implementation)
        {
        }

        protected override TService Activate(RpcCallContext context) => throw new InvalidOperationException("unreachable: the singleton is returned by Get.");
    }

    private sealed class PerCallActivator : RpcServiceActivator<TService>
    {
        private readonly Func<RpcCallContext, TService> _create;

        public PerCallActivator(Func<RpcCallContext, TService> create) => _create = create;

        protected override TService Activate(RpcCallContext context)
        {
            TService service = _create(context) ?? throw new InvalidOperationException($"The activator of '{typeof(TService).FullName}' returned null.");
            switch (service)
            {
                case IAsyncDisposable asyncDisposable:
                    context.RegisterForDisposeAsync(asyncDisposable);
                    break;
                case IDisposable disposable:
                    context.RegisterForDispose(disposable);
                    break;
            }

            return service;
        }
    }
}

using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace RpcGen.Server;

// What a call's handler path registered for disposal (a DI scope, a per-call implementation): disposed once the call
// has ended, after its response was written, last registered first.
public sealed partial class RpcServerCall
{
    private List<object>? _disposables;

    /// <summary>The context to create a per-call implementation with: the current one when it is this call's.</summary>
    internal RpcCallContext ContextForActivation() =>
        RpcCallContext.Current is { } current && current.Is(this, Generation) ? current : CreateContext();

    internal void RegisterForDispose(int generation, object disposable)
    {
        lock (_lock)
        {
            if (generation != _generation)
            {
                throw new InvalidOperationException("The call has ended; nothing can be registered for disposal with it.");
            }

            (_disposables ??= new List<object>(1)).Add(disposable);
        }
    }

    /// <summary>Disposes what was registered, without waiting for asynchronous disposals (they finish on their own).</summary>
    internal void DisposeRegistered(ILogger logger)
    {
        if (Volatile.Read(ref _disposables) is null)
        {
            return; // the common case: no lock on every call's way out
        }

        List<object>? disposables;
        lock (_lock)
        {
            disposables = _disposables;
            _disposables = null;
        }

        if (disposables is null)
        {
            return;
        }

        for (int i = disposables.Count - 1; i >= 0; i--)
        {
            try
            {
                if (disposables[i] is IAsyncDisposable asyncDisposable)
                {
                    ValueTask pending = asyncDisposable.DisposeAsync();
                    if (!pending.IsCompletedSuccessfully)
                    {
                        _ = AwaitDisposal(pending, Method.FullName, logger);
                    }
                }
                else
                {
                    ((IDisposable)disposables[i]).Dispose();
                }
            }
            catch (Exception ex)
            {
                Telemetry.RpcGenLog.DisposalFailed(logger, ex, Method.FullName);
            }
        }

        static async Task AwaitDisposal(ValueTask pending, string method, ILogger logger)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Telemetry.RpcGenLog.DisposalFailed(logger, ex, method);
            }
        }
    }
}

using System;

namespace RpcGen.Server.Deduplication;

/// <summary>
/// The claim a run of a <c>[Deduplicate]</c> method holds in its store (<see cref="RpcCallContext.Deduplication"/>): a
/// handler whose effects go to the store's own database stores its answer in the same transaction as its effects, so
/// that a crash can never leave effects without the answer (which a retry would run again) or an answer without them.
/// </summary>
public sealed class RpcDeduplicationClaim
{
    private readonly RpcServerCall _call;
    private readonly int _generation;

    internal RpcDeduplicationClaim(RpcServerCall call, int generation, Internal.DeduplicationGate.Run run)
    {
        _call = call;
        _generation = generation;
        CallId = run.CallId;
        Token = run.Token;
        Method = run.Method;
        Store = run.Store;
    }

    /// <summary>The call id, the same in every attempt of the call.</summary>
    public Guid CallId { get; }

    /// <summary>The token that fences this run: a store completes the claim only while the token still holds it.</summary>
    public long Token { get; }

    /// <summary>The method's full name, <c>service/Method</c>.</summary>
    public string Method { get; }

    /// <summary>The store the claim is in.</summary>
    public IDeduplicationStore Store { get; }

    /// <summary>
    /// The answer repeats get if the handler returns <paramref name="result"/>: its JSON as the server sends it, with the
    /// response headers and trailers written so far (write them first). The handler must then return that value.
    /// </summary>
    /// <exception cref="ArgumentException"><typeparamref name="T"/> is not the method's result type.</exception>
    public DeduplicationRecord CreateRecord<T>(T result) => _call.CreateRecord(_generation, result, hasResult: true);

    /// <summary>The answer repeats get when a method without a result completes (its response headers and trailers).</summary>
    public DeduplicationRecord CreateRecord() => _call.CreateRecord<object?>(_generation, null, hasResult: false);
}

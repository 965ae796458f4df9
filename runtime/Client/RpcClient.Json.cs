using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Balancing;
using RpcGen.Client.Internal;
using RpcGen.Descriptors;
using RpcGen.Serialization;

namespace RpcGen.Client;

// Calls without generated code (docs/gateway.md#calls-without-generated-code): the arguments as JSON (an object of
// named arguments, or an array in parameter order), the result and items as JsonElement. The HTTP gateway, the rpcgen
// tool and tests call services this way; everything else is as for a proxy's call: deadline, the caller's
// RpcCallScope, interceptors, balancing (with [HashKey] hashed from the JSON), resilience, telemetry.
public sealed partial class RpcClient
{
    private ConcurrentDictionary<RpcMethodDescriptor, RpcClientMethod<JsonElement>>? _jsonMethods;

    /// <summary>
    /// Calls <paramref name="method"/> with <paramref name="arguments"/>, a JSON object of named arguments (or an array
    /// in parameter order; empty for none), and returns its result (<see cref="JsonValueKind.Undefined"/> for a method
    /// without one). For a method that takes the caller's stream, <paramref name="input"/> is that stream. Malformed
    /// arguments fail with <see cref="RpcStatusCode.InvalidArgument"/> before anything is sent; arguments of the wrong
    /// type or missing ones fail the same way on the server, before its handler runs. A method with its own balancer type
    /// uses it once the service's proxy was created on this client (<see cref="CreateProxy{TService}"/>).
    /// </summary>
    public async ValueTask<JsonElement> InvokeJsonAsync(
        RpcMethodDescriptor method, ReadOnlyMemory<byte> arguments, IAsyncEnumerable<JsonElement>? input = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(method);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        bool streamsIn = method.Streaming == RpcStreamingKind.Client;
        if (method.Streaming is RpcStreamingKind.Server or RpcStreamingKind.Duplex)
        {
            throw new ArgumentException($"'{method.FullName}' returns a stream: call StreamJsonAsync.", nameof(method));
        }

        if (streamsIn != input is not null)
        {
            throw new ArgumentException(
                streamsIn ? $"'{method.FullName}' takes the caller's stream: pass it as input." : $"'{method.FullName}' takes no stream.",
                nameof(input));
        }

        RpcJsonArguments args = RpcJsonArguments.Create(method, arguments);
        RpcClientMethod<JsonElement> call = JsonMethod(method);
        if (method.ResultType is null)
        {
            RpcClientMethod withoutResult = call; // the overloads that read no result
            if (input is null)
            {
                await Invoker.InvokeAsync(withoutResult, args, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await Invoker.ClientStreamAsync(withoutResult, args, input, RpcJsonArguments.ElementType, cancellationToken).ConfigureAwait(false);
            }

            return default;
        }

        return input is null
            ? await Invoker.InvokeAsync<RpcJsonArguments, JsonElement>(call, args, cancellationToken).ConfigureAwait(false)
            : await Invoker.ClientStreamAsync(call, args, input, RpcJsonArguments.ElementType, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Calls <paramref name="method"/>, which returns a stream, with <paramref name="arguments"/> as for
    /// <see cref="InvokeJsonAsync"/>, and yields its items with their positions (for a <c>[Resumable]</c> stream, which
    /// resumes after a break as a proxy's does; null for other streams). For a duplex method, <paramref name="input"/>
    /// is the caller's stream. Each enumeration is a call.
    /// </summary>
    public async IAsyncEnumerable<RpcJsonItem> StreamJsonAsync(
        RpcMethodDescriptor method, ReadOnlyMemory<byte> arguments, IAsyncEnumerable<JsonElement>? input = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(method);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (method.Streaming is not (RpcStreamingKind.Server or RpcStreamingKind.Duplex))
        {
            throw new ArgumentException($"'{method.FullName}' does not return a stream: call InvokeJsonAsync.", nameof(method));
        }

        if ((method.Streaming == RpcStreamingKind.Duplex) != input is not null)
        {
            throw new ArgumentException(
                input is null ? $"'{method.FullName}' takes the caller's stream: pass it as input." : $"'{method.FullName}' takes no stream.",
                nameof(input));
        }

        RpcJsonArguments args = RpcJsonArguments.Create(method, arguments);
        RpcClientMethod<JsonElement> call = JsonMethod(method);
        IAsyncEnumerable<JsonElement> items = input is not null
            ? Invoker.DuplexStream(call, args, input, RpcJsonArguments.ElementType, cancellationToken)
            : method.ResumeFromParameter is not null
                ? Invoker.ResumableStream(call, args, cancellationToken)
                : Invoker.ServerStream(call, args, cancellationToken);
        IAsyncEnumerator<JsonElement> enumerator = items.GetAsyncEnumerator(cancellationToken);
        try
        {
            while (await enumerator.MoveNextAsync().ConfigureAwait(false))
            {
                yield return new RpcJsonItem(enumerator.Current, (enumerator as RpcCallInvoker.IStreamPosition)?.LastPosition);
            }
        }
        finally
        {
            await enumerator.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static RpcServiceDescriptor? s_describe;

    /// <summary>
    /// Asks the server behind this client what it serves (docs/describe.md; the server must set
    /// <c>RpcServerOptions.EnableDescribe</c>): every service it maps, or the one named <paramref name="service"/>, with
    /// methods, streaming shapes, policies and JSON schemas, as version 1 of the describe document. Unimplemented when
    /// the server does not serve it; NotFound for a service it does not map.
    /// </summary>
    public ValueTask<JsonElement> DescribeAsync(string? service = null, CancellationToken cancellationToken = default)
    {
        RpcServiceDescriptor describe = s_describe ??= DescribeDocument.CreateDescriptor(authenticated: false);
        byte[] arguments = service is null ? "{}"u8.ToArray() : JsonSerializer.SerializeToUtf8Bytes(service, RpcJson.StringType);
        if (service is not null)
        {
            arguments = [.. "{\"service\":"u8, .. arguments, (byte)'}'];
        }

        return InvokeJsonAsync(describe.Methods[1], arguments, null, cancellationToken);
    }

    /// <summary>The names of the services the server behind this client maps (its describe service's <c>List</c>).</summary>
    public ValueTask<JsonElement> ListServicesAsync(CancellationToken cancellationToken = default)
    {
        RpcServiceDescriptor describe = s_describe ??= DescribeDocument.CreateDescriptor(authenticated: false);
        return InvokeJsonAsync(describe.Methods[0], "{}"u8.ToArray(), null, cancellationToken);
    }

    private RpcClientMethod<JsonElement> JsonMethod(RpcMethodDescriptor method)
    {
        ConcurrentDictionary<RpcMethodDescriptor, RpcClientMethod<JsonElement>> methods =
            LazyInitializer.EnsureInitialized(ref _jsonMethods, static () => new());
        if (methods.TryGetValue(method, out RpcClientMethod<JsonElement>? known))
        {
            return known;
        }

        lock (methods)
        {
            // Once per method: each AddMethod registers it for policy reloads. A [LoadBalance(typeof(X))] method balances
            // with the user's type when a proxy of its service made it known (CreateProxy), as the gateway does.
            return methods.GetOrAdd(method, static (d, client) =>
            {
                Func<ILoadBalancer>? userBalancer = client.UserBalancerOf(d);
                return client.AddMethod(d, userBalancer, (balancer, userOwned, policies) =>
                    new RpcClientMethod<JsonElement>(d, balancer, userOwned, policies, RpcJsonArguments.ElementType, userBalancer));
            }, this);
        }
    }
}

/// <summary>
/// An item of a stream called with <see cref="RpcClient.StreamJsonAsync"/>: its JSON, and its position in a
/// <c>[Resumable]</c> stream.
/// </summary>
public readonly struct RpcJsonItem
{
    /// <summary>Creates an item.</summary>
    public RpcJsonItem(JsonElement value, long? position)
    {
        Value = value;
        Position = position;
    }

    /// <summary>The item.</summary>
    public JsonElement Value { get; }

    /// <summary>Its position (what a resuming call passes as its <c>[ResumeFrom]</c> argument), or null when the stream is not resumable.</summary>
    public long? Position { get; }
}

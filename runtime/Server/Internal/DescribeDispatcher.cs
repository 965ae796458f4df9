using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text.Json;
using System.Threading.Tasks;
using RpcGen.Descriptors;
using RpcGen.Serialization;

namespace RpcGen.Server.Internal;

/// <summary>
/// The describe service (<see cref="RpcServerOptions.EnableDescribe"/>, docs/describe.md): <c>rpcgen.describe/List</c>
/// names the services this server maps, <c>rpcgen.describe/Describe</c> (optionally one <c>service</c>) describes them
/// (<see cref="DescribeDocument"/>). Written by hand: the runtime does not run the generator on itself. A server with
/// an authenticator answers only authenticated callers.
/// </summary>
internal sealed class DescribeDispatcher : RpcServiceDispatcher
{
    public const string ServiceName = DescribeDocument.ServiceName;

    private readonly IReadOnlyList<RpcServiceDescriptor> _services;
    private readonly RpcDispatcherContext _context;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, JsonElement> _answers = new(StringComparer.Ordinal);

    public DescribeDispatcher(IReadOnlyList<RpcServiceDescriptor> services, RpcDispatcherContext context, bool authenticated)
        : base(DescribeDocument.CreateDescriptor(authenticated))
    {
        _services = services;
        _context = context;
    }

    public override ValueTask InvokeAsync(int methodIndex, RpcServerCall call, ReadOnlySpan<byte> payload)
    {
        var reader = new RpcArgumentReader(payload, call.Method.FullName);
        string? service = null;
        if (methodIndex == 1 && !reader.TryRead(RpcJson.StringType, "service", out service))
        {
            service = null;
        }

        reader.End();
        JsonElement answer = _answers.GetOrAdd(methodIndex == 0 ? string.Empty : "/" + service, static (key, self) => self.Build(key), this);
        return call.CompleteAsync(new ValueTask<JsonElement>(answer), RpcJson.ElementType);
    }

    /// <summary>
    /// One answer: the list (key ""), every service ("/"), or one ("/name"). Built once per key, since the services and
    /// their contracts are fixed when the server starts: a caller asking again and again costs a lookup, not a document.
    /// Keys of services this server does not map are never stored (they throw), so the cache holds at most one entry
    /// per service plus two.
    /// </summary>
    private JsonElement Build(string key)
    {
        int methodIndex = key.Length == 0 ? 0 : 1;
        string? service = key.Length > 1 ? key[1..] : null;
        var output = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(output))
        {
            if (methodIndex == 0)
            {
                DescribeDocument.WriteList(writer, _services);
            }
            else
            {
                List<RpcServiceDescriptor> described = new();
                foreach (RpcServiceDescriptor descriptor in _services)
                {
                    if (service is null || descriptor.Name == service)
                    {
                        described.Add(descriptor);
                    }
                }

                if (service is not null && described.Count == 0)
                {
                    throw new RpcException(RpcStatusCode.NotFound, $"This server maps no service named '{service}'.");
                }

                DescribeDocument.WriteServices(writer, described, (descriptor, _) => _context.OptionsFor(descriptor));
            }
        }

        using JsonDocument document = JsonDocument.Parse(output.WrittenMemory);
        return document.RootElement.Clone();
    }
}

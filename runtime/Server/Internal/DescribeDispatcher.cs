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
        return call.CompleteAsync(new ValueTask<JsonElement>(document.RootElement.Clone()), RpcJson.ElementType);
    }
}

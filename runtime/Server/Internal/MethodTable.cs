using System;
using System.Collections.Generic;
using System.Text;
using RpcGen.Descriptors;

namespace RpcGen.Server.Internal;

/// <summary>
/// Finds a dispatcher and method index from the UTF-8 <c>service/method</c> bytes of a request without decoding them
/// to a string: open addressing over an FNV-1a hash, built once when the server starts and read-only afterwards.
/// </summary>
internal sealed class MethodTable
{
    private readonly Entry?[] _slots;
    private readonly int _mask;
    private readonly HashSet<string> _services = new(StringComparer.Ordinal);

    public MethodTable(IReadOnlyList<RpcServiceDispatcher> dispatchers)
    {
        int count = 0;
        foreach (RpcServiceDispatcher dispatcher in dispatchers)
        {
            count += dispatcher.Descriptor.Methods.Count;
            _services.Add(dispatcher.Descriptor.Name);
        }

        int size = 8;
        while (size < count * 2)
        {
            size <<= 1;
        }

        _slots = new Entry?[size];
        _mask = size - 1;
        foreach (RpcServiceDispatcher dispatcher in dispatchers)
        {
            foreach (RpcMethodDescriptor method in dispatcher.Descriptor.Methods)
            {
                byte[] name = Encoding.UTF8.GetBytes(method.FullName);
                int slot = (int)Hash(name) & _mask;
                while (_slots[slot] is not null)
                {
                    if (_slots[slot]!.Name.AsSpan().SequenceEqual(name))
                    {
                        throw new InvalidOperationException($"Two mapped services both define the method '{method.FullName}'.");
                    }

                    slot = (slot + 1) & _mask;
                }

                _slots[slot] = new Entry(name, dispatcher, method.Index);
            }
        }
    }

    public bool TryFind(ReadOnlySpan<byte> name, out RpcServiceDispatcher dispatcher, out int index)
    {
        int slot = (int)Hash(name) & _mask;
        while (true)
        {
            Entry? entry = _slots[slot];
            if (entry is null)
            {
                dispatcher = null!;
                index = -1;
                return false;
            }

            if (entry.Name.AsSpan().SequenceEqual(name))
            {
                dispatcher = entry.Dispatcher;
                index = entry.Index;
                return true;
            }

            slot = (slot + 1) & _mask;
        }
    }

    /// <summary>Says whether the service or only the method is unknown (error path only).</summary>
    public string DescribeMissing(ReadOnlySpan<byte> name)
    {
        string text = Encoding.UTF8.GetString(name);
        int slash = text.IndexOf('/');
        if (slash < 0)
        {
            return $"'{text}' is not a service/method name.";
        }

        string service = text.Substring(0, slash);
        return _services.Contains(service)
            ? $"The service '{service}' has no method '{text.Substring(slash + 1)}'."
            : $"The server has no service '{service}'.";
    }

    private static uint Hash(ReadOnlySpan<byte> bytes)
    {
        uint hash = 2166136261;
        foreach (byte b in bytes)
        {
            hash = (hash ^ b) * 16777619;
        }

        return hash;
    }

    private sealed record Entry(byte[] Name, RpcServiceDispatcher Dispatcher, int Index);
}

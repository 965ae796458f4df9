using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Linq;

namespace RpcGen.Descriptors;

/// <summary>
/// Where generated code registers each service's descriptor (from a module initializer), without reflection, under
/// trimming and Native AOT. The proxy and dispatcher factories register beside it in their own layers
/// (<c>RpcGen.Client.RpcProxyFactory&lt;T&gt;</c>, <c>RpcGen.Server.RpcDispatcherFactory&lt;T&gt;</c>).
/// </summary>
public static class RpcServiceRegistry
{
    private static readonly object s_lock = new();
    private static readonly List<RpcServiceDescriptor> s_services = new();

    /// <summary>Registers a generated service's descriptor. Called by generated module initializers.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static void Register<TService>(RpcServiceDescriptor descriptor)
        where TService : class
    {
        lock (s_lock)
        {
            if (Registration<TService>.Descriptor is not null)
            {
                return;
            }

            Registration<TService>.Descriptor = descriptor;
            s_services.Add(descriptor);
        }
    }

    /// <summary>Every service registered in this process, in registration order.</summary>
    public static IReadOnlyList<RpcServiceDescriptor> Services
    {
        get
        {
            lock (s_lock)
            {
                return s_services.ToArray();
            }
        }
    }

    /// <summary>The descriptor of <typeparamref name="TService"/>, or null when nothing was generated for it.</summary>
    public static RpcServiceDescriptor? GetDescriptor<TService>() where TService : class => Registration<TService>.Descriptor;

    /// <summary>
    /// The descriptor of <typeparamref name="TService"/> (its service name, methods, policies), running the module
    /// initializer of the assembly that declares it first if that has not run yet. Throws an
    /// <see cref="InvalidOperationException"/> saying what to do when nothing was generated for it.
    /// </summary>
    public static RpcServiceDescriptor GetRequiredDescriptor<TService>() where TService : class
    {
        if (Registration<TService>.Descriptor is null)
        {
            // The generated registration is a module initializer; a contracts assembly's runs on first use of the module.
            System.Runtime.CompilerServices.RuntimeHelpers.RunModuleConstructor(typeof(TService).Module.ModuleHandle);
        }

        EnsureRegistered<TService>();
        return Registration<TService>.Descriptor!;
    }

    /// <summary>Throws, saying what to do, when nothing was generated for <typeparamref name="TService"/>.</summary>
    internal static void EnsureRegistered<TService>() where TService : class
    {
        if (Registration<TService>.Descriptor is null)
        {
            Type type = typeof(TService);
            string name = type.IsGenericType ? $"{type.Name[..type.Name.IndexOf('`')]}<{string.Join(", ", type.GetGenericArguments().Select(a => a.Name))}>" : type.FullName ?? type.Name;
            string why = !type.IsInterface
                ? "it is not an interface: CreateProxy and Map take the [RpcService] interface, not its implementation"
                : type.IsGenericType
                    ? "it is generic, and RpcGen generates nothing for generic interfaces (RPCGEN004: a service has one wire contract); declare one non-generic interface per type argument"
                    : type.IsDefined(typeof(RpcServiceAttribute), inherit: false)
                        ? "the interface has [RpcService] but no generated code was registered: reference the RpcGen package (which carries the source generator) from the project that declares it, and look for an RPCGEN004 error saying why it was skipped"
                        : "the interface has no [RpcService] attribute: add [RpcService] to it (and reference the RpcGen package, which carries the source generator)";
            throw new InvalidOperationException($"No RpcGen proxy or dispatcher exists for '{name}': {why}.");
        }
    }

    internal readonly struct Registration<TService> where TService : class
    {
        public static RpcServiceDescriptor? Descriptor;
    }
}

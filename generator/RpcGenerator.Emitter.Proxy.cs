using System.Collections.Generic;
using System.Linq;
using RpcGen.Generator.Helpers;
using RpcGen.Generator.Model;

namespace RpcGen.Generator;

public sealed partial class RpcGenerator
{
    internal static partial class Emitter
    {
        // internal sealed class ICalculatorRpcProxy : ICalculator
        // {
        //     private readonly RpcCallInvoker _invoker; private readonly RpcClientMethod<int> _addAsync; private readonly JsonTypeInfo<int> _type0;
        //     public ICalculatorRpcProxy(RpcCallInvoker invoker) { ...resolve each once... }
        //     Task<int> ICalculator.AddAsync(int @a, int @b, CancellationToken @ct)
        //         => this._invoker.InvokeAsync(this._addAsync, new AddAsyncArguments(this, @a, @b), @ct).AsTask();
        //     private readonly struct Arguments0 : IRpcArguments { ...fields...; public void Write(Utf8JsonWriter writer) { [a, b] } }
        // }
        // Members are implemented explicitly, so no user member name can collide with the proxy's own.
        private static string EmitProxy(ServiceSpec service)
        {
            SourceWriter writer = StartFile(service);
            string proxy = ProxyClass(service);
            Dictionary<string, string> types = TypeInfoFields(service, includeResults: false, out List<string> orderedTypes);
            string[] fields = MethodMemberNames(service, static n => "_" + Camel(n), new[] { "_invoker" }.Concat(types.Values));
            string[] structs = MethodMemberNames(service, static n => Pascal(n) + "Arguments", new[] { proxy });

            writer.WriteLine($"/// <summary>RpcGen client proxy for <see cref=\"{service.InterfaceFullName}\"/>.</summary>");
            WriteAttributes(writer, s_implementationAttributes);
            writer.WriteLine($"internal sealed class {proxy} : {service.InterfaceFullName}");
            writer.OpenBlock();
            writer.WriteLine($"private readonly {RpcCallInvoker} _invoker;");
            foreach (MethodSpec method in service.Methods)
            {
                writer.WriteLine($"private readonly {ClientMethodType(method)} {fields[method.Index]};");
            }

            foreach (string type in orderedTypes)
            {
                writer.WriteLine($"private readonly {JsonTypeInfo}<{type}> {types[type]};");
            }

            writer.WriteLine();
            writer.WriteLine($"public {proxy}({RpcCallInvoker} invoker)");
            writer.OpenBlock();
            writer.WriteLine("this._invoker = invoker;");
            if (service.Methods.Count > 0)
            {
                writer.WriteLine($"global::System.Collections.Generic.IReadOnlyList<{RpcMethodDescriptor}> methods = {DescriptorClass(service)}.Descriptor.Methods;");
            }

            foreach (MethodSpec method in service.Methods)
            {
                string getMethod = method.ResultType is null ? "GetMethod" : $"GetMethod<{method.ResultType.FullyQualified}>";
                string balancer = method.LoadBalance?.BalancerType is string type ? $", static () => new {type}()" : string.Empty;
                writer.WriteLine($"this.{fields[method.Index]} = invoker.{getMethod}(methods[{Number(method.Index)}]{balancer});");
            }

            foreach (string type in orderedTypes)
            {
                writer.WriteLine($"this.{types[type]} = invoker.GetTypeInfo<{type}>({DescriptorClass(service)}.Descriptor);");
            }

            writer.CloseBlock();

            foreach (MethodSpec method in service.Methods)
            {
                writer.WriteLine();
                WriteProxyMethod(writer, method, fields[method.Index], structs[method.Index], types);
            }

            foreach (UnsupportedMemberSpec member in service.Unsupported)
            {
                writer.WriteLine();
                WriteUnsupportedMember(writer, service, member);
            }

            foreach (MethodSpec method in service.Methods)
            {
                writer.WriteLine();
                WriteArgumentsStruct(writer, proxy, structs[method.Index], method, types);
            }

            writer.CloseBlock();
            return EndFile(service, writer);
        }

        private static string ClientMethodType(MethodSpec method) =>
            method.ResultType is null ? RpcClientMethod : $"{RpcClientMethod}<{method.ResultType.FullyQualified}>";

        private static void WriteProxyMethod(SourceWriter writer, MethodSpec method, string field, string arguments, Dictionary<string, string> types)
        {
            var parameters = new List<string>();
            var values = new List<string> { "this" };
            foreach (ParameterSpec? parameter in DeclaredParameters(method))
            {
                if (parameter is null)
                {
                    StreamSpec stream = method.Stream!;
                    parameters.Add($"{AsyncEnumerable}<{stream.ItemType!.FullyQualified}> @{stream.ParameterName}");
                    continue;
                }

                parameters.Add($"{parameter.Type.FullyQualified} @{parameter.Name}");
                values.Add("@" + parameter.Name);
            }

            if (method.CancellationTokenName is not null)
            {
                parameters.Add($"{CancellationToken} @{method.CancellationTokenName}");
            }

            string token = method.CancellationTokenName is null ? "default" : "@" + method.CancellationTokenName;
            string asTask = method.ReturnKind is ReturnKind.Task or ReturnKind.TaskOfT ? ".AsTask()" : string.Empty;
            string call = $"this.{field}, new {arguments}({string.Join(", ", values)})";
            string input = method.Stream is { ParameterName: { } name, ItemType: { } item }
                ? $", @{name}, this.{types[item.FullyQualified]}"
                : string.Empty;
            writer.WriteLine($"{ReturnType(method)} {method.DeclaringInterface}.@{method.Name}({string.Join(", ", parameters)})");
            writer.OpenBlock();
            switch (method.Stream?.Kind)
            {
                case StreamKind.Server when method.Stream.ResumeFromIndex >= 0:
                    writer.WriteLine($"return this._invoker.ResumableStream({call}, {token});");
                    break;
                case StreamKind.Server:
                    writer.WriteLine($"return this._invoker.ServerStream({call}, {token});");
                    break;
                case StreamKind.Duplex:
                    writer.WriteLine($"return this._invoker.DuplexStream({call}{input}, {token});");
                    break;
                case StreamKind.Client:
                    writer.WriteLine($"return this._invoker.ClientStreamAsync({call}{input}, {token}){asTask};");
                    break;
                default:
                    writer.WriteLine($"return this._invoker.InvokeAsync({call}, {token}){asTask};");
                    break;
            }

            writer.CloseBlock();
        }

        private static void WriteArgumentsStruct(SourceWriter writer, string proxy, string name, MethodSpec method, Dictionary<string, string> types)
        {
            writer.WriteLine($"/// <summary>The arguments of <c>{method.Name}</c>, written as a JSON array without boxing.</summary>");
            int resumeFrom = method.Stream?.ResumeFromIndex ?? -1;
            string implements = resumeFrom >= 0 ? $"global::RpcGen.Serialization.IRpcResumableArguments<{name}>" : IRpcArguments;
            writer.WriteLine($"private readonly struct {name} : {implements}");
            writer.OpenBlock();
            writer.WriteLine($"private readonly {proxy} _proxy;");
            for (int i = 0; i < method.Parameters.Count; i++)
            {
                writer.WriteLine($"private readonly {method.Parameters[i].Type.FullyQualified} _arg{Number(i)};");
            }

            writer.WriteLine();
            var ctorParameters = new List<string> { $"{proxy} proxy" };
            for (int i = 0; i < method.Parameters.Count; i++)
            {
                ctorParameters.Add($"{method.Parameters[i].Type.FullyQualified} arg{Number(i)}");
            }

            writer.WriteLine($"public {name}({string.Join(", ", ctorParameters)})");
            writer.OpenBlock();
            writer.WriteLine("this._proxy = proxy;");
            for (int i = 0; i < method.Parameters.Count; i++)
            {
                writer.WriteLine($"this._arg{Number(i)} = arg{Number(i)};");
            }

            writer.CloseBlock();
            writer.WriteLine();
            writer.WriteLine($"public void Write({Utf8JsonWriter} writer)");
            writer.OpenBlock();
            writer.WriteLine("writer.WriteStartArray();");
            for (int i = 0; i < method.Parameters.Count; i++)
            {
                writer.WriteLine($"global::RpcGen.Serialization.RpcJson.Write(writer, this._arg{Number(i)}, this._proxy.{types[method.Parameters[i].Type.FullyQualified]});");
            }

            writer.WriteLine("writer.WriteEndArray();");
            writer.CloseBlock();
            if (resumeFrom >= 0)
            {
                // The call that resumes the stream: the same arguments, [ResumeFrom] set to the last position received.
                var resumed = new List<string> { "this._proxy" };
                for (int i = 0; i < method.Parameters.Count; i++)
                {
                    resumed.Add(i == resumeFrom ? "position" : $"this._arg{Number(i)}");
                }

                writer.WriteLine();
                writer.WriteLine($"public {name} ResumeAfter(long position)");
                writer.OpenBlock();
                writer.WriteLine($"return new {name}({string.Join(", ", resumed)});");
                writer.CloseBlock();
            }

            if (method.HashKeyParameters.Count > 0)
            {
                // Only methods with [HashKey] parameters hash them; the others keep IRpcArguments' default (never called).
                string hash = string.Empty;
                foreach (int index in method.HashKeyParameters)
                {
                    string one = $"{RpcHash}.Of(this._arg{Number(index)}, this._proxy.{types[method.Parameters[index].Type.FullyQualified]})";
                    hash = hash.Length == 0 ? one : $"{RpcHash}.Combine({hash}, {one})";
                }

                writer.WriteLine();
                writer.WriteLine("public ulong GetHashKey()");
                writer.OpenBlock();
                writer.WriteLine($"return {hash};");
                writer.CloseBlock();
            }

            writer.CloseBlock();
        }

        private static void WriteUnsupportedMember(SourceWriter writer, ServiceSpec service, UnsupportedMemberSpec member)
        {
            string message = Literal($"'{member.Name}' cannot be called through an RpcGen proxy of '{service.InterfaceDisplayName}' because {member.Reason}.");
            string @throw = $"throw new {NotSupportedException}({message})";
            switch (member.Kind)
            {
                case MemberKind.LocalDispose:
                    // A proxy holds nothing of its own (the RpcClient owns the connections): disposing it does nothing,
                    // and never reaches the server (RPCGEN020).
                    writer.WriteLine(member.Signature.StartsWith("void ", System.StringComparison.Ordinal) ? $"{member.Signature} {{ }}" : $"{member.Signature} => default;");
                    break;
                case MemberKind.Method:
                    writer.WriteLine($"{member.Signature} => {@throw};");
                    break;
                default:
                    writer.WriteLine(member.Signature);
                    writer.OpenBlock();
                    foreach (string accessor in member.Accessors.Split(','))
                    {
                        if (accessor.Length > 0)
                        {
                            writer.WriteLine($"{accessor} => {@throw};");
                        }
                    }

                    writer.CloseBlock();
                    break;
            }
        }
    }
}

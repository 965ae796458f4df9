using System.Collections.Generic;
using RpcGen.Generator.Helpers;
using RpcGen.Generator.Model;

namespace RpcGen.Generator;

public sealed partial class RpcGenerator
{
    internal static partial class Emitter
    {
        // internal sealed class ICalculatorRpcDispatcher : RpcServiceDispatcher
        // {
        //     public override ValueTask InvokeAsync(int methodIndex, RpcServerCall call, ReadOnlySpan<byte> payload)
        //         => methodIndex switch { 0 => this.InvokeAddAsync(call, payload), ... };
        //     private ValueTask InvokeAddAsync(RpcServerCall call, ReadOnlySpan<byte> payload)
        //     {
        //         var reader = new RpcArgumentReader(payload, call.Method.FullName);
        //         if (!reader.TryRead(this._type0, "a", out int arg0)) arg0 = reader.Missing<int>("a");   // or the default value
        //         reader.End();
        //         return call.CompleteAsync(this._service.Get(call).AddAsync(arg0, ..., call.CancellationToken), this._type0);
        //     }
        // }
        // Arguments are read before the implementation runs: the payload is only valid until the first await.
        private static string EmitDispatcher(ServiceSpec service)
        {
            SourceWriter writer = StartFile(service);
            string dispatcher = DispatcherClass(service);
            Dictionary<string, string> types = TypeInfoFields(service, includeResults: true, out List<string> orderedTypes);
            string[] invokers = MethodMemberNames(service, static n => "Invoke" + Pascal(n), new[] { "InvokeAsync", dispatcher });

            writer.WriteLine($"/// <summary>RpcGen server dispatcher for <see cref=\"{service.InterfaceFullName}\"/>.</summary>");
            WriteAttributes(writer, s_implementationAttributes);
            writer.WriteLine($"internal sealed class {dispatcher} : {RpcServiceDispatcher}");
            writer.OpenBlock();
            writer.WriteLine($"private readonly {RpcServiceActivator}<{service.InterfaceFullName}> _service;");
            foreach (string type in orderedTypes)
            {
                writer.WriteLine($"private readonly {JsonTypeInfo}<{type}> {types[type]};");
            }

            writer.WriteLine();
            writer.WriteLine($"public {dispatcher}({RpcServiceActivator}<{service.InterfaceFullName}> service, {RpcDispatcherContext} context)");
            writer.Indentation++;
            writer.WriteLine($": base({DescriptorClass(service)}.Descriptor)");
            writer.Indentation--;
            writer.OpenBlock();
            writer.WriteLine("this._service = service;");
            foreach (string type in orderedTypes)
            {
                writer.WriteLine($"this.{types[type]} = context.GetTypeInfo<{type}>({DescriptorClass(service)}.Descriptor);");
            }

            writer.CloseBlock();
            writer.WriteLine();
            writer.WriteLine($"public override {ValueTask} InvokeAsync(int methodIndex, {RpcServerCall} call, {ReadOnlySpanOfByte} payload)");
            writer.OpenBlock();
            writer.WriteLine("switch (methodIndex)");
            writer.OpenBlock();
            foreach (MethodSpec method in service.Methods)
            {
                writer.WriteLine($"case {Number(method.Index)}: return this.{invokers[method.Index]}(call, payload);");
            }

            writer.WriteLine($"default: throw new {RpcException}({RpcStatusCode}.Unimplemented, {Literal($"Unknown method index for service '{service.WireName}'.")});");
            writer.CloseBlock();
            writer.CloseBlock();

            foreach (MethodSpec method in service.Methods)
            {
                writer.WriteLine();
                WriteInvokeMethod(writer, service, method, invokers[method.Index], types);
            }

            writer.CloseBlock();
            return EndFile(service, writer);
        }

        private static void WriteInvokeMethod(SourceWriter writer, ServiceSpec service, MethodSpec method, string invoker, Dictionary<string, string> types)
        {
            writer.WriteLine($"/// <summary>Serves <c>{method.Name}</c> as '{service.WireName}/{method.WireName}'.</summary>");
            writer.WriteLine($"private {ValueTask} {invoker}({RpcServerCall} call, {ReadOnlySpanOfByte} payload)");
            writer.OpenBlock();
            var arguments = new List<string>();
            if (method.Parameters.Count > 0)
            {
                writer.WriteLine($"{RpcArgumentReader} reader = new {RpcArgumentReader}(payload, call.Method.FullName);");
                for (int i = 0; i < method.Parameters.Count; i++)
                {
                    ParameterSpec parameter = method.Parameters[i];
                    string local = "arg" + Number(i);
                    string name = Literal(parameter.Name);
                    string fallback = parameter.DefaultValue ?? $"reader.Missing<{parameter.Type.FullyQualified}>({name})";
                    writer.WriteLine($"if (!reader.TryRead(this.{types[parameter.Type.FullyQualified]}, {name}, out {parameter.Type.FullyQualified} {local}))");
                    writer.OpenBlock();
                    writer.WriteLine($"{local} = {fallback};");
                    writer.CloseBlock();
                    arguments.Add(local);
                }

                writer.WriteLine("reader.End();");
            }
            else
            {
                writer.WriteLine($"new {RpcArgumentReader}(payload, call.Method.FullName).End();");
            }

            if (method.Stream is { ParameterPosition: >= 0, ItemType: { } item } stream)
            {
                arguments.Insert(stream.ParameterPosition, $"call.ReadStream(this.{types[item.FullyQualified]})");
            }

            if (method.CancellationTokenName is not null)
            {
                arguments.Add("call.CancellationToken");
            }

            string target = method.IsInherited ? $"(({method.DeclaringInterface})this._service.Get(call))" : "this._service.Get(call)";
            string invocation = $"{target}.@{method.Name}({string.Join(", ", arguments)})";
            string resultType = method.ResultType is null ? string.Empty : ", this." + types[method.ResultType.FullyQualified];
            string complete = method.ReturnKind == ReturnKind.AsyncEnumerable ? "CompleteStreamAsync" : "CompleteAsync";
            string position = method.Stream?.PositionProperty is { } property ? $", static item => (long)item.@{property}" : string.Empty;
            writer.WriteLine($"return call.{complete}({invocation}{resultType}{position});");
            writer.CloseBlock();
        }
    }
}

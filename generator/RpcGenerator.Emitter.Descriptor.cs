using System.Linq;
using RpcGen.Generator.Helpers;
using RpcGen.Generator.Model;

namespace RpcGen.Generator;

public sealed partial class RpcGenerator
{
    internal static partial class Emitter
    {
        // internal static class ICalculatorRpcDescriptor
        // {
        //     public static readonly RpcServiceDescriptor Descriptor = new RpcServiceDescriptor("calc", typeof(ICalculator),
        //         new RpcMethodDescriptor[] { new RpcMethodDescriptor(0, "Add", "AddAsync", new[] { ...parameters }, "int",
        //             RpcReturnKind.TaskOfT, hasCancellationToken: true, timeoutMilliseconds: 500), ... });
        //     [ModuleInitializer] internal static void Register()
        //     {
        //         RpcServiceRegistry.Register<ICalculator>(Descriptor);                                  // Descriptors
        //         RpcProxyFactory<ICalculator>.Register(static invoker => new ICalculatorRpcProxy(invoker));  // Client
        //         RpcDispatcherFactory<ICalculator>.Register(static (service, context) => new ICalculatorRpcDispatcher(service, context));  // Server
        //     }
        // }
        private const string LoadBalanceStrategy = "global::RpcGen.LoadBalanceStrategy";

        /// <summary>
        /// <c>new global::RpcGen.Resilience.RpcRetryPolicy { MaxAttempts = 3, ... }</c> from the attribute's named arguments, in
        /// source order (a breaker on the method itself adds <c>PerMethod = true</c>).
        /// </summary>
        private static string PolicyCreation(PolicyAttributeSpec policy, string runtimeType)
        {
            var assignments = new System.Collections.Generic.List<string>();
            foreach (NamedValueSpec argument in policy.Arguments)
            {
                assignments.Add($"{argument.Name} = {Constant(argument.Value)}");
            }

            if (policy.PerMethod)
            {
                assignments.Add("PerMethod = true");
            }

            return assignments.Count == 0 ? $"new {runtimeType}()" : $"new {runtimeType} {{ {string.Join(", ", assignments)} }}";
        }

        /// <summary>An attribute constant as a C# expression with global:: names and invariant numbers.</summary>
        private static string Constant(ConstantSpec constant) => constant.Kind switch
        {
            ConstantKind.Null => "null",
            ConstantKind.Bool or ConstantKind.Int => constant.Text,
            ConstantKind.Double => constant.Text switch
            {
                "NaN" => "global::System.Double.NaN",
                "Infinity" => "global::System.Double.PositiveInfinity",
                "-Infinity" => "global::System.Double.NegativeInfinity",
                _ => constant.Text + "d",
            },
            ConstantKind.Enum => $"({constant.Type})({constant.Text})",
            _ => constant.Elements is { Count: > 0 } elements
                ? $"new {constant.Type}[] {{ {string.Join(", ", elements.Select(Constant))} }}"
                : $"global::System.Array.Empty<{constant.Type}>()",
        };

        private static string EmitDescriptor(ServiceSpec service)
        {
            SourceWriter writer = StartFile(service);
            writer.WriteLine($"/// <summary>RpcGen descriptor and registration of <see cref=\"{service.InterfaceFullName}\"/>.</summary>");
            WriteAttributes(writer, s_implementationAttributes);
            writer.WriteLine($"internal static class {DescriptorClass(service)}");
            writer.OpenBlock();

            writer.WriteLine("/// <summary>The service's OpenAPI 3.1 document, as the HTTP gateway serves it (docs/gateway.md#openapi).</summary>");
            writer.WriteLine("public const string OpenApiDocument = @\"" + service.OpenApi.Replace("\"", "\"\"") + "\";");
            writer.WriteLine();
            writer.WriteLine("/// <summary>Wire names, methods, types and the effective policy of each method.</summary>");
            writer.WriteLine($"public static readonly {RpcServiceDescriptor} Descriptor = new {RpcServiceDescriptor}(");
            writer.Indentation++;
            writer.WriteLine($"{Literal(service.WireName)},");
            writer.WriteLine($"typeof({service.InterfaceFullName}),");
            writer.WriteLine($"new {RpcMethodDescriptor}[]");
            writer.OpenBlock();
            foreach (MethodSpec method in service.Methods)
            {
                writer.WriteLine($"new {RpcMethodDescriptor}(");
                writer.Indentation++;
                writer.WriteLine($"index: {Number(method.Index)},");
                writer.WriteLine($"name: {Literal(method.WireName)},");
                writer.WriteLine($"clrName: {Literal(method.Name)},");
                if (method.Parameters.Count == 0)
                {
                    writer.WriteLine($"parameters: global::System.Array.Empty<{RpcParameterDescriptor}>(),");
                }
                else
                {
                    writer.WriteLine($"parameters: new {RpcParameterDescriptor}[]");
                    writer.OpenBlock();
                    foreach (ParameterSpec parameter in method.Parameters)
                    {
                        string hasDefault = parameter.DefaultValue is null ? "false" : "true";
                        writer.WriteLine(
                            $"new {RpcParameterDescriptor}({Literal(parameter.Name)}, {Literal(parameter.Type.Display)}, hasDefaultValue: {hasDefault}, " +
                            $"clrType: typeof({parameter.Type.TypeOf})),");
                    }

                    writer.CloseBlock(",");
                }

                writer.WriteLine($"resultType: {(method.ResultType is null ? "null" : Literal(method.ResultType.Display))},");
                writer.WriteLine($"returnKind: {RpcReturnKind}.{method.ReturnKind},");
                writer.WriteLine($"hasCancellationToken: {(method.CancellationTokenName is null ? "false" : "true")},");
                var extra = new System.Collections.Generic.List<string>();
                if (method.ResultType is { } result)
                {
                    extra.Add($"resultClrType: typeof({result.TypeOf})");
                }

                if (method.LoadBalance is { BalancerType: null } strategy)
                {
                    extra.Add(strategy.StrategyName is null
                        ? $"loadBalance: ({LoadBalanceStrategy}){Number(strategy.Strategy)}"
                        : $"loadBalance: {LoadBalanceStrategy}.{strategy.StrategyName}");
                }

                if (method.LoadBalance?.BalancerType is string balancer)
                {
                    extra.Add($"balancerType: {Literal(balancer.Replace("global::", string.Empty))}");
                }

                if (method.HashKeyParameters.Count > 0)
                {
                    extra.Add($"hashKeyParameters: new string[] {{ {string.Join(", ", method.HashKeyParameters.Select(i => Literal(method.Parameters[i].Name)))} }}");
                }

                PolicySpec policy = method.Policy;
                if (policy.Idempotent)
                {
                    extra.Add("idempotent: true");
                }

                if (policy.Deduplicate)
                {
                    extra.Add("deduplicate: true");
                }

                if (policy.NoSideEffects)
                {
                    extra.Add("noSideEffects: true");
                }

                if (policy.Broadcast)
                {
                    extra.Add("broadcast: true");
                }

                if (policy.Retry is { } retry)
                {
                    extra.Add($"retry: {PolicyCreation(retry, "global::RpcGen.Resilience.RpcRetryPolicy")}");
                }

                if (policy.Hedging is { } hedging)
                {
                    extra.Add($"hedging: {PolicyCreation(hedging, "global::RpcGen.Resilience.RpcHedgingPolicy")}");
                }

                if (policy.CircuitBreaker is { } breaker)
                {
                    extra.Add($"circuitBreaker: {PolicyCreation(breaker, "global::RpcGen.Resilience.RpcCircuitBreakerPolicy")}");
                }

                if (method.Authorization is { } authorization)
                {
                    string sets = string.Join(", ", authorization.RoleSets.Select(set => set.Length == 0
                        ? "global::System.Array.Empty<string>()"
                        : "new string[] { " + string.Join(", ", set.Split(',').Select(Literal)) + " }"));
                    extra.Add($"authorization: new global::RpcGen.Descriptors.RpcAuthorization({(authorization.AllowAnonymous ? "true" : "false")}, new string[][] {{ {sets} }})");
                }

                if (method.Stream is { } stream)
                {
                    extra.Add($"streaming: global::RpcGen.Descriptors.RpcStreamingKind.{stream.Kind}");
                    if (stream.ItemType is { } item)
                    {
                        extra.Add($"requestItemType: {Literal(item.Display)}");
                        extra.Add($"requestItemClrType: typeof({item.TypeOf})");
                    }

                    if (stream.ResumeFromIndex >= 0)
                    {
                        extra.Add($"resumeFromParameter: {Literal(method.Parameters[stream.ResumeFromIndex].Name)}");
                    }

                    if (stream.Settings is { } settings)
                    {
                        extra.Add($"streamingPolicy: {PolicyCreation(settings, "global::RpcGen.RpcStreamingPolicy")}");
                    }
                }

                if (method.Compression is { } compression)
                {
                    extra.Add($"compression: {PolicyCreation(compression, "global::RpcGen.RpcCompressionPolicy")}");
                }

                writer.WriteLine($"timeoutMilliseconds: {Number(method.TimeoutMilliseconds)}{(extra.Count == 0 ? ")," : ",")}");
                for (int i = 0; i < extra.Count; i++)
                {
                    writer.WriteLine(extra[i] + (i == extra.Count - 1 ? ")," : ","));
                }
                writer.Indentation--;
            }

            writer.CloseBlock(",");
            if (service.JsonContext is not null)
            {
                writer.WriteLine($"jsonContext: {service.JsonContext}.Default,");
            }

            writer.WriteLine("openApiDocument: OpenApiDocument);");

            writer.Indentation--;

            if (service.Unsupported.Any(m => m.Kind != MemberKind.LocalDispose))
            {
                writer.WriteLine();
                writer.WriteLine("// Members that cannot be called remotely (the proxy throws NotSupportedException for them):");
                foreach (UnsupportedMemberSpec member in service.Unsupported.Where(m => m.Kind != MemberKind.LocalDispose))
                {
                    writer.WriteLine($"// - {member.Signature}: {member.Reason}.");
                }
            }

            writer.WriteLine();
            writer.WriteLine("/// <summary>Registers the proxy and dispatcher factories when the module loads; no reflection needed.</summary>");
            writer.WriteLine("[global::System.Runtime.CompilerServices.ModuleInitializer]");
            writer.WriteLine("internal static void Register()");
            writer.OpenBlock();
            writer.WriteLine($"{RpcServiceRegistry}.Register<{service.InterfaceFullName}>(Descriptor);");
            writer.WriteLine($"{RpcProxyFactory}<{service.InterfaceFullName}>.Register(static invoker => new {ProxyClass(service)}(invoker));");
            writer.WriteLine($"{RpcDispatcherFactory}<{service.InterfaceFullName}>.Register(static (service, context) => new {DispatcherClass(service)}(service, context));");
            writer.CloseBlock();
            writer.CloseBlock();
            return EndFile(service, writer);
        }
    }
}

// RpcGen benchmarks.
//   dotnet run -c Release --project tests/RpcGen.Benchmarks -- micro [BenchmarkDotNet args]   (BenchmarkDotNet, in-process toolchain)
//   dotnet run -c Release --project tests/RpcGen.Benchmarks -- load [--seconds 3] [--warmup 1] [--reps 3] [--concurrency 1,16,64]
//   dotnet run -c Release --project tests/RpcGen.Benchmarks -- allocs [--seconds 5]   (which types a loopback call allocates)
//   dotnet run -c Release --project tests/RpcGen.Benchmarks -- burst [--calls 5000] [--reps 3] [--per-connection 100]
//   dotnet run -c Release --project tests/RpcGen.Benchmarks -- stream [--seconds 3] [--warmup 1] [--reps 3]   (streams: items/s, round trips)
//   dotnet run -c Release --project tests/RpcGen.Benchmarks -- gateway [--payload small|record] [--concurrency 1,64]   (HTTP/JSON gateway)
//   dotnet run -c Release --project tests/RpcGen.Benchmarks -- dedup-size [--entries 1000000]   (disk per deduplication store)
//   dotnet run -c Release --project tests/RpcGen.Benchmarks -- memory [--connections 10000] [--calls 1000] [--no-trim|--grpc]   (after storms)
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using RpcGen.Benchmarks;

string mode = args.Length > 0 ? args[0] : "help";
switch (mode)
{
    case "micro":
        // The in-process toolchain runs in this process: BenchmarkDotNet 0.14 (the newest served here) cannot build a
        // separate .NET 10 benchmark project.
        // "--quick" runs BenchmarkDotNet's short job (3 iterations) for wide sweeps such as the pick benchmarks.
        bool quick = args.Contains("--quick");
        Job job = (quick ? Job.ShortRun : Job.Default).WithToolchain(InProcessEmitToolchain.Instance);
        IConfig config = DefaultConfig.Instance.AddJob(job);
        BenchmarkSwitcher.FromAssembly(typeof(InProcessCallBenchmarks).Assembly).Run(args[1..].Where(a => a != "--quick").ToArray(), config);
        return 0;
    case "load":
        return await LoadRunner.RunAsync(args[1..]);
    case "burst":
        return await DeadlineBurst.RunAsync(args[1..]);
    case "inproc":
        return await AllocationSampler.InProcessLoopAsync(args[1..]);
    case "allocs":
        return await AllocationSampler.RunAsync(args[1..]);
    case "serve":
        return await LoadRunner.ServeAsync();
    case "stream":
        return await StreamRunner.RunAsync(args[1..]);
    case "stream-serve":
        return await StreamRunner.ServeAsync();
    case "gateway":
        return await GatewayRunner.RunAsync(args[1..]);
    case "dedup-size":
        return await DedupSize.RunAsync(args[1..]);
    case "gateway-serve":
        return await GatewayRunner.ServeAsync();
    case "memory":
        return await MemoryRunner.RunAsync(args[1..]);
    case "memory-serve":
        return await MemoryRunner.ServeAsync(args[1..]);
    default:
        Console.WriteLine("usage: micro [--filter *] | load [--seconds N] [--warmup N] [--reps N] [--concurrency 1,16,64]");
        return mode == "help" ? 0 : 2;
}

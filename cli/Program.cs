using System;
using System.CommandLine;
using System.Threading.Tasks;

namespace RpcGen.Cli;

/// <summary>
/// rpcgen: RpcGen services from a terminal (docs/cli.md). The commands share the connection options; every command's
/// exit code is the call's status code (0 for OK, <see cref="RpcStatusCode"/>'s number otherwise), 64 for a command
/// line that does not parse, 65 for input that is not what it should be.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var options = new CliOptions();
        var root = new RootCommand("Call, describe, list and stream RpcGen services: JSON in and out.");
        options.AddTo(root);
        root.Subcommands.Add(Commands.List(options));
        root.Subcommands.Add(Commands.Describe(options));
        root.Subcommands.Add(Commands.Call(options));
        root.Subcommands.Add(Commands.Stream(options));
        root.Subcommands.Add(Commands.Health(options));
        root.Subcommands.Add(Commands.Endpoints(options));

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (System.CommandLine.Parsing.ParseError error in parsed.Errors)
            {
                Console.Error.WriteLine(error.Message);
            }

            Console.Error.WriteLine("Run 'rpcgen --help' for the commands and options.");
            return ExitCodes.Usage;
        }

        return await parsed.InvokeAsync().ConfigureAwait(false);
    }
}

/// <summary>The exit codes that are not a status code.</summary>
internal static class ExitCodes
{
    /// <summary>The command line does not parse (sysexits' EX_USAGE).</summary>
    public const int Usage = 64;

    /// <summary>The input (JSON, a file, a method name) is not what it should be (sysexits' EX_DATAERR).</summary>
    public const int Data = 65;
}

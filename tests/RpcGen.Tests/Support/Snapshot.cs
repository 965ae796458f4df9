using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;
using Xunit.Sdk;

namespace RpcGen.Tests.Support;

/// <summary>
/// Snapshot assertions with Verify's conventions, so that moving to Verify later is a one-line change:
/// <c>{Class}.{Method}.{name}.verified.cs</c> is committed in a <c>Snapshots</c> folder beside the test; on a mismatch
/// <c>.received.cs</c> is written next to it and the failure shows a line diff. Set <c>RPCGEN_ACCEPT_SNAPSHOTS=1</c> to
/// overwrite the verified files with what was received (then review the change in git).
/// </summary>
public static partial class Snapshot
{
    public const string AcceptVariable = "RPCGEN_ACCEPT_SNAPSHOTS";

    public static void Verify(
        string actual,
        string name,
        [CallerFilePath] string sourceFile = "",
        [CallerMemberName] string testMethod = "")
    {
        sourceFile = TestPaths.Resolve(sourceFile);
        string directory = Path.Combine(Path.GetDirectoryName(sourceFile)!, "Snapshots");
        string testClass = Path.GetFileNameWithoutExtension(sourceFile);
        string stem = Path.Combine(directory, $"{testClass}.{testMethod}.{name}");
        string verifiedPath = stem + ".verified.cs";
        string receivedPath = stem + ".received.cs";
        string scrubbed = Scrub(actual);

        string? verified = File.Exists(verifiedPath) ? Normalize(File.ReadAllText(verifiedPath)) : null;
        if (verified == scrubbed)
        {
            if (File.Exists(receivedPath))
            {
                File.Delete(receivedPath);
            }

            return;
        }

        Directory.CreateDirectory(directory);
        if (Environment.GetEnvironmentVariable(AcceptVariable) is "1" or "true")
        {
            File.WriteAllText(verifiedPath, scrubbed);
            if (File.Exists(receivedPath))
            {
                File.Delete(receivedPath);
            }

            return;
        }

        File.WriteAllText(receivedPath, scrubbed);
        string message = verified is null
            ? $"No verified snapshot at {verifiedPath}. Review {receivedPath} and rename it to .verified.cs, or run with {AcceptVariable}=1."
            : $"Snapshot mismatch for {verifiedPath} (received: {receivedPath}). Run with {AcceptVariable}=1 to accept.\n{Diff(verified, scrubbed)}";
        throw new XunitException(message);
    }

    /// <summary>Removes what changes from build to build (the generator version) and normalizes line endings.</summary>
    public static string Scrub(string text) =>
        Normalize(VersionPattern().Replace(text, "GeneratedCode(\"RpcGen\", \"{version}\")"));

    private static string Normalize(string text) => text.Replace("\r\n", "\n").TrimStart('\uFEFF');

    private static string Diff(string expected, string actual)
    {
        DiffPaneModel diff = new InlineDiffBuilder(new DiffPlex.Differ()).BuildDiffModel(expected, actual);
        var builder = new StringBuilder();
        int shown = 0;
        for (int i = 0; i < diff.Lines.Count && shown < 80; i++)
        {
            DiffPiece line = diff.Lines[i];
            if (line.Type == ChangeType.Unchanged)
            {
                continue;
            }

            builder.Append(line.Type == ChangeType.Inserted ? "+ " : line.Type == ChangeType.Deleted ? "- " : "~ ")
                .Append(line.Position?.ToString() ?? "?").Append(": ").AppendLine(line.Text);
            shown++;
        }

        return builder.ToString();
    }

    [GeneratedRegex("GeneratedCode\\(\"RpcGen\", \"[^\"]*\"\\)")]
    private static partial Regex VersionPattern();
}

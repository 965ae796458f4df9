using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Architecture;

/// <summary>
/// What the build's style rules cannot say (.editorconfig's IDE rules fail the build on their own): lines of C# stay
/// within 150 characters. The lines that are longer today are counted per project, and each count may only go down:
/// a change that adds a long line fails here, one that shortens some lowers the budget (edit it below).
/// </summary>
public sealed class StyleTests
{
    private const int MaxLineLength = 150;

    /// <summary>Lines over <see cref="MaxLineLength"/> each folder still has (generated snapshots excluded).</summary>
    private static readonly Dictionary<string, int> s_longLineBudget = new(StringComparer.Ordinal)
    {
        ["runtime"] = 182,
        ["generator"] = 31,
        ["analyzers"] = 47,
        ["hosting"] = 15,
        ["etcd"] = 12,
        ["dns"] = 5,
        ["sqlite"] = 0,
        ["redis"] = 0,
        ["aspnetcore"] = 0,
        ["cli"] = 0,
        ["sample"] = 2,
        ["tests"] = 191,
    };

    public static TheoryData<string> Folders => new(s_longLineBudget.Keys);

    [Theory]
    [MemberData(nameof(Folders))]
    public void LongLines_NeverIncrease(string folder)
    {
        var longLines = new List<string>();
        foreach (string file in Directory.EnumerateFiles(Path.Combine(TestPaths.RepositoryRoot, folder), "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(TestPaths.RepositoryRoot, file).Replace('\\', '/');
            if (relative.Contains("/obj/", StringComparison.Ordinal) || relative.Contains("/bin/", StringComparison.Ordinal) ||
                relative.EndsWith(".verified.cs", StringComparison.Ordinal))
            {
                continue;
            }

            string[] lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                if (lines[i].Length > MaxLineLength)
                {
                    longLines.Add($"{relative}:{i + 1} ({lines[i].Length})");
                }
            }
        }

        int budget = s_longLineBudget[folder];
        Assert.True(longLines.Count <= budget,
            $"{folder} has {longLines.Count} lines over {MaxLineLength} characters, {longLines.Count - budget} more than its budget " +
            $"of {budget}; wrap the new ones:\n" +
            string.Join("\n", longLines));
    }
}

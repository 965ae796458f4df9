using RpcGen.CodeFixes;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Analyzers;

/// <summary>Each fix: the expected source, which compiles and no longer has the diagnostic; and fix-all.</summary>
public sealed class CodeFixTests
{
    private const string Usings = "using System.Threading;\nusing System.Threading.Tasks;\nusing RpcGen;\n\n";

    private static async Task AssertFixed(Microsoft.CodeAnalysis.CodeFixes.CodeFixProvider provider, string id, string before, string after, bool all = false)
    {
        string fixedSource = all
            ? await CodeFixHarness.FixAllAsync(provider, Usings + before, id)
            : (await CodeFixHarness.FixOneAsync(provider, Usings + before, id))!;
        Assert.Equal(Usings + after, fixedSource.Replace("\r\n", "\n", StringComparison.Ordinal));
        Assert.Empty(CodeFixHarness.CompilerErrors(fixedSource));
        Assert.Empty(await CodeFixHarness.RemainingAsync(fixedSource, id));
    }

    [Fact]
    public Task ReturnTask_WrapsASynchronousResult() => AssertFixed(new ReturnTaskCodeFix(), "RPCGEN001",
        "[RpcService] public interface ICalc { int Add(int a, int b); }",
        "[RpcService] public interface ICalc { Task<int> Add(int a, int b); }");

    [Fact]
    public Task ReturnTask_TurnsVoidIntoTask() => AssertFixed(new ReturnTaskCodeFix(), "RPCGEN001",
        "[RpcService] public interface ICalc { void Reset(); }",
        "[RpcService] public interface ICalc { Task Reset(); }");

    [Fact]
    public Task ReturnTask_FixAll() => AssertFixed(new ReturnTaskCodeFix(), "RPCGEN001",
        "[RpcService] public interface ICalc { int Add(int a, int b); string Name(); void Reset(); }",
        "[RpcService] public interface ICalc { Task<int> Add(int a, int b); Task<string> Name(); Task Reset(); }",
        all: true);

    [Fact]
    public Task MoveCancellationToken_ToTheEnd_WithADefault() => AssertFixed(new MoveCancellationTokenCodeFix(), "RPCGEN005",
        "[RpcService] public interface ICalc { Task<int> AddAsync(CancellationToken ct, int a, int b); }",
        "[RpcService] public interface ICalc { Task<int> AddAsync(int a, int b, CancellationToken ct = default); }");

    [Fact]
    public Task MoveCancellationToken_FixAll() => AssertFixed(new MoveCancellationTokenCodeFix(), "RPCGEN005",
        "[RpcService] public interface ICalc { Task A(CancellationToken ct, int a); Task B(CancellationToken token = default, string s = \"x\"); }",
        "[RpcService] public interface ICalc { Task A(int a, CancellationToken ct = default); Task B(string s = \"x\", CancellationToken token = default); }",
        all: true);

    [Fact]
    public async Task MoveCancellationToken_NotOfferedForASecondToken()
    {
        string? result = await CodeFixHarness.FixOneAsync(new MoveCancellationTokenCodeFix(), Usings +
            "[RpcService] public interface ICalc { Task A(int a, CancellationToken x, CancellationToken y); }", "RPCGEN005");
        Assert.Null(result);
    }

    [Fact]
    public Task AddIdempotent_MarksTheMethod() => AssertFixed(new AddIdempotentCodeFix(), "RPCGEN017",
        "[RpcService, Retry] public interface IOrders { Task<int> GetAsync(int id, CancellationToken ct = default); }",
        "[RpcService, Retry] public interface IOrders { [Idempotent] Task<int> GetAsync(int id, CancellationToken ct = default); }");

    [Fact]
    public Task AddIdempotent_JoinsAnExistingAttributeList_AndFixesAll() => AssertFixed(new AddIdempotentCodeFix(), "RPCGEN017",
        "[RpcService] public interface IOrders { [Retry] Task<int> GetAsync(int id, CancellationToken ct = default); [Hedging] Task<int> QuoteAsync(CancellationToken ct = default); }",
        "[RpcService] public interface IOrders { [Retry, Idempotent] Task<int> GetAsync(int id, CancellationToken ct = default); [Hedging, Idempotent] Task<int> QuoteAsync(CancellationToken ct = default); }",
        all: true);

    [Fact]
    public Task AddCancellationToken_AppendsOne() => AssertFixed(new AddCancellationTokenCodeFix(), "RPCGEN015",
        "[RpcService] public interface ICalc { Task<int> AddAsync(int a, int b); }",
        "[RpcService] public interface ICalc { Task<int> AddAsync(int a, int b, CancellationToken cancellationToken = default); }");

    [Fact]
    public Task AddCancellationToken_FixAll() => AssertFixed(new AddCancellationTokenCodeFix(), "RPCGEN015",
        "[RpcService] public interface ICalc { Task<int> AddAsync(int a, int b); Task ResetAsync(); }",
        "[RpcService] public interface ICalc { Task<int> AddAsync(int a, int b, CancellationToken cancellationToken = default); Task ResetAsync(CancellationToken cancellationToken = default); }",
        all: true);
}

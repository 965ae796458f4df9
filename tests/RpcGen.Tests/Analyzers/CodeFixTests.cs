using RpcGen.CodeFixes;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Analyzers;

/// <summary>
/// Each fix under Microsoft.CodeAnalysis.Testing: the marked diagnostics are fixed one by one and by fix-all (document,
/// project and solution scope), the result must equal the expected source, compile, and carry only what it marks.
/// </summary>
public sealed class CodeFixTests
{
    private const string Usings = "using System.Threading;\nusing System.Threading.Tasks;\nusing RpcGen;\n\n";

    private static Task AssertFixed<TFix>(string before, string after)
        where TFix : Microsoft.CodeAnalysis.CodeFixes.CodeFixProvider, new() =>
        Verifiers.VerifyCodeFixAsync<TFix>(Usings + before, Usings + after);

    [Fact]
    public Task ReturnTask_WrapsASynchronousResult() => AssertFixed<ReturnTaskCodeFix>(
        "[RpcService] public interface ICalc { {|RPCGEN001:int|} Add(int a, int b); }",
        "[RpcService] public interface ICalc { Task<int> Add(int a, int b); }");

    [Fact]
    public Task ReturnTask_TurnsVoidIntoTask() => AssertFixed<ReturnTaskCodeFix>(
        "[RpcService] public interface ICalc { {|RPCGEN001:void|} Reset(); }",
        "[RpcService] public interface ICalc { Task Reset(); }");

    [Fact]
    public Task ReturnTask_FixAll() => AssertFixed<ReturnTaskCodeFix>(
        "[RpcService] public interface ICalc { {|RPCGEN001:int|} Add(int a, int b); {|RPCGEN001:string|} Name(); {|RPCGEN001:void|} Reset(); }",
        "[RpcService] public interface ICalc { Task<int> Add(int a, int b); Task<string> Name(); Task Reset(); }");

    [Fact]
    public Task MoveCancellationToken_ToTheEnd_WithADefault() => AssertFixed<MoveCancellationTokenCodeFix>(
        "[RpcService] public interface ICalc { Task<int> AddAsync(CancellationToken {|RPCGEN005:ct|}, int a, int b); }",
        "[RpcService] public interface ICalc { Task<int> AddAsync(int a, int b, CancellationToken ct = default); }");

    [Fact]
    public Task MoveCancellationToken_FixAll() => AssertFixed<MoveCancellationTokenCodeFix>(
        "[RpcService] public interface ICalc { Task A(CancellationToken {|RPCGEN005:ct|}, int a); Task B(CancellationToken {|RPCGEN005:token|} = default, string s = \"x\"); }",
        "[RpcService] public interface ICalc { Task A(int a, CancellationToken ct = default); Task B(string s = \"x\", CancellationToken token = default); }");

    [Fact]
    public Task MoveCancellationToken_NotOfferedForASecondToken()
    {
        const string Source = "[RpcService] public interface ICalc { Task A(int a, CancellationToken x, CancellationToken {|RPCGEN005:y|}); }";
        return AssertFixed<MoveCancellationTokenCodeFix>(Source, Source);
    }

    [Fact]
    public Task AddIdempotent_MarksTheMethod() => AssertFixed<AddIdempotentCodeFix>(
        "[RpcService, Retry] public interface IOrders { Task<int> {|RPCGEN017:GetAsync|}(int id, CancellationToken ct = default); }",
        "[RpcService, Retry] public interface IOrders { [Idempotent] Task<int> GetAsync(int id, CancellationToken ct = default); }");

    [Fact]
    public Task AddIdempotent_JoinsAnExistingAttributeList_AndFixesAll() => AssertFixed<AddIdempotentCodeFix>(
        "[RpcService] public interface IOrders { [Retry] Task<int> {|RPCGEN017:GetAsync|}(int id, CancellationToken ct = default); [Hedging] Task<int> {|RPCGEN017:QuoteAsync|}(CancellationToken ct = default); }",
        "[RpcService] public interface IOrders { [Retry, Idempotent] Task<int> GetAsync(int id, CancellationToken ct = default); [Hedging, Idempotent] Task<int> QuoteAsync(CancellationToken ct = default); }");

    [Fact]
    public Task AddCancellationToken_AppendsOne() => AssertFixed<AddCancellationTokenCodeFix>(
        "[RpcService] public interface ICalc { Task<int> {|RPCGEN015:AddAsync|}(int a, int b); }",
        "[RpcService] public interface ICalc { Task<int> AddAsync(int a, int b, CancellationToken cancellationToken = default); }");

    [Fact]
    public Task AddCancellationToken_FixAll() => AssertFixed<AddCancellationTokenCodeFix>(
        "[RpcService] public interface ICalc { Task<int> {|RPCGEN015:AddAsync|}(int a, int b); Task {|RPCGEN015:ResetAsync|}(); }",
        "[RpcService] public interface ICalc { Task<int> AddAsync(int a, int b, CancellationToken cancellationToken = default); Task ResetAsync(CancellationToken cancellationToken = default); }");
}

using System.Diagnostics;
using System.Text.Json;
using Xunit;

namespace RpcGen.Tests.Gateway;

/// <summary>The gateway as the real curl (Debian's) calls it: what a shell script or an operator gets.</summary>
public sealed class GatewayCurlTests
{
    /// <summary>Runs curl; its output with <c>-w</c>'s status line last.</summary>
    private static async Task<(string Body, int Status)> CurlAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in new[] { "-sS", "--max-time", "30", "-w", "\n%{http_code}" }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("These tests run the real curl: install it (apt-get install -y curl; ./build.sh test does).", ex);
        }

        using (process)
        {
            Task<string> error = process.StandardError.ReadToEndAsync();
            string output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"curl exited {process.ExitCode}: {await error}");
            int last = output.LastIndexOf('\n');
            return (output[..last], int.Parse(output[(last + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private static Task<(string Body, int Status)> PostAsync(string url, string json, params string[] headers) =>
        CurlAsync(new[] { url, "-H", "Content-Type: application/json", "-d", json }.Concat(headers.SelectMany(h => new[] { "-H", h })).ToArray());

    private static string Message(string body) => JsonDocument.Parse(body).RootElement.GetProperty("message").GetString()!;

    [Fact]
    public async Task Post_Get_AndErrors_AsCurlSeesThem()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        string url = app.Address.ToString().TrimEnd('/');

        (string body, int status) = await PostAsync(url + "/store/Buy", "{\"order\":{\"sku\":\"pen\",\"quantity\":2}}");
        Assert.Equal(200, status);
        Assert.Equal(5m, JsonDocument.Parse(body).RootElement.GetProperty("total").GetDecimal());

        (body, status) = await CurlAsync(url + "/store/Get?sku=pen&quantity=4");
        Assert.Equal(200, status);
        Assert.Equal(10m, JsonDocument.Parse(body).RootElement.GetProperty("price").GetDecimal());

        (body, status) = await PostAsync(url + "/store/Fail", "{\"code\":5,\"message\":\"no such pen\"}");
        Assert.Equal(404, status);
        Assert.Equal("{\"code\":\"not_found\",\"message\":\"no such pen\"}", body);

        (body, status) = await PostAsync(url + "/store/Buy", "{\"order\":{\"sku\":\"pen\",\"quantity\":\"two\"}}");
        Assert.Equal(400, status);
        Assert.Contains("argument 'order' could not be read", Message(body), StringComparison.Ordinal);
        Assert.Contains("'order'", body, StringComparison.Ordinal); // readable as it is: quotes not escaped as \u0027

        (body, status) = await PostAsync(url + "/store/Slow", "{\"milliseconds\":20000}", "Rpc-Timeout-Ms: 200");
        Assert.Equal(504, status);
        Assert.Equal("deadline_exceeded", JsonDocument.Parse(body).RootElement.GetProperty("code").GetString());
    }

    [Fact]
    public async Task ServerSentEvents_AsCurlPrintsThem()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        string url = app.Address.ToString().TrimEnd('/');
        (string body, int status) = await CurlAsync("-N", "-H", "Accept: text/event-stream", url + "/store/Feed?end=2");
        Assert.Equal(200, status);
        Assert.Equal(
            "event: message\ndata: {\"position\":1,\"text\":\"#1\"}\nid: 1\n\n" +
            "event: message\ndata: {\"position\":2,\"text\":\"#2\"}\nid: 2\n\n" +
            "event: end\ndata: {\"code\":\"ok\"}\n\n",
            body);

        (body, status) = await CurlAsync("-N", "-H", "Last-Event-ID: 1", "-H", "Accept: text/event-stream", url + "/store/Feed?end=2");
        Assert.Equal(200, status);
        Assert.StartsWith("event: message\ndata: {\"position\":2,\"text\":\"#2\"}\nid: 2\n", body, StringComparison.Ordinal);

        (body, status) = await CurlAsync("-N", url + "/store/Count?count=2");
        Assert.Equal(200, status);
        Assert.Equal("{\"result\":1}\n{\"result\":2}\n{\"end\":{\"code\":\"ok\",\"trailers\":{\"counted\":[\"2\"]}}}\n", body);
    }
}

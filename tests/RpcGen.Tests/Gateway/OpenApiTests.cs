using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;
using RpcGen.AspNetCore;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Gateway;

/// <summary>
/// The OpenAPI documents the generator writes: every service shape in the suite gives one that Microsoft.OpenApi reads
/// without errors or warnings, and requests built from the gateway's document succeed against the gateway.
/// </summary>
public sealed partial class OpenApiTests
{
    /// <summary>Every service of this assembly (end-to-end services) and every generator snapshot's.</summary>
    public static TheoryData<string> Documents()
    {
        var data = new TheoryData<string>();
        System.Runtime.CompilerServices.RuntimeHelpers.RunModuleConstructor(typeof(IStore).Module.ModuleHandle);
        foreach (RpcGen.Descriptors.RpcServiceDescriptor service in RpcGen.Descriptors.RpcServiceRegistry.Services)
        {
            data.Add("service " + service.InterfaceType.FullName);
        }

        foreach (string file in SnapshotFiles())
        {
            data.Add("snapshot " + Path.GetFileName(file));
        }

        return data;
    }

    private static IEnumerable<string> SnapshotFiles() =>
        Directory.GetFiles(Path.Combine(TestPaths.RepositoryRoot, "tests", "RpcGen.Tests", "Generator", "Snapshots"), "*.RpcDescriptor.verified.cs")
            .Order(StringComparer.Ordinal);

    private static string DocumentOf(string source)
    {
        if (source.StartsWith("service ", StringComparison.Ordinal))
        {
            string name = source["service ".Length..];
            return RpcGen.Descriptors.RpcServiceRegistry.Services.Single(s => s.InterfaceType.FullName == name).OpenApiDocument!;
        }

        string folder = Path.Combine(TestPaths.RepositoryRoot, "tests", "RpcGen.Tests", "Generator", "Snapshots");
        string text = File.ReadAllText(Path.Combine(folder, source["snapshot ".Length..]));
        Match match = Literal().Match(text);
        Assert.True(match.Success, "the descriptor has no OpenApiDocument constant");
        return match.Groups[1].Value.Replace("\"\"", "\"");
    }

    [GeneratedRegex("public const string OpenApiDocument = @\"((?:[^\"]|\"\")*)\";")]
    private static partial Regex Literal();

    [Theory]
    [MemberData(nameof(Documents))]
    public void TheDocument_ReadsWithoutErrorsOrWarnings_AndValidates(string source)
    {
        string json = DocumentOf(source);
        ReadResult read = OpenApiDocument.Parse(json, "json");
        Assert.NotNull(read.Document);
        Assert.True(read.Diagnostic!.Errors.Count == 0, string.Join("\n", read.Diagnostic.Errors.Select(e => e.ToString())));
        Assert.True(read.Diagnostic.Warnings.Count == 0, string.Join("\n", read.Diagnostic.Warnings.Select(e => e.ToString())));
        Assert.Equal(OpenApiSpecVersion.OpenApi3_1, read.Diagnostic.SpecificationVersion);
        IEnumerable<OpenApiError> problems = read.Document!.Validate(ValidationRuleSet.GetDefaultRuleSet()) ?? Enumerable.Empty<OpenApiError>();
        Assert.True(!problems.Any(), string.Join("\n", problems.Select(e => e.ToString())));
        JsonNode document = JsonNode.Parse(json)!;
        Assert.Equal("3.1.1", (string?)document["openapi"]);
        foreach ((string path, JsonNode? item) in document["paths"]!.AsObject())
        {
            Assert.StartsWith("/", path, StringComparison.Ordinal);
            Assert.NotNull(item!["post"]);
        }
    }

    [Fact]
    public void TheStoresDocument_SaysWhatTheGatewayServes()
    {
        JsonNode document = JsonNode.Parse(DocumentOf("service " + typeof(IStore).FullName))!;
        JsonObject paths = document["paths"]!.AsObject();
        Assert.DoesNotContain("/store/Sum", paths.Select(p => p.Key)); // takes the caller's stream: not over HTTP
        Assert.NotNull(paths["/store/Get"]!["get"]);                   // [NoSideEffects]
        Assert.Null(paths["/store/Buy"]!["get"]);
        JsonNode body = paths["/store/Buy"]!["post"]!["requestBody"]!["content"]!["application/json"]!["schema"]!;
        Assert.Equal("[\"order\"]", body["required"]!.ToJsonString());    // color has a default
        Assert.False((bool)body["additionalProperties"]!);
        Assert.Equal("[{\"bearer\":[]}]", paths["/store/WhoAmI"]!["post"]!["security"]!.ToJsonString());
        Assert.Contains("role admin", (string?)paths["/store/WhoAmI"]!["post"]!["description"], StringComparison.Ordinal);
        JsonNode stream = paths["/store/Count"]!["post"]!["responses"]!["200"]!["content"]!;
        Assert.NotNull(stream["application/x-ndjson"]);
        Assert.NotNull(stream["text/event-stream"]);
        JsonNode receipt = document["components"]!["schemas"]!["Receipt"]!;
        Assert.Equal("{\"type\":\"string\"}", receipt["properties"]!["sku"]!.ToJsonString());
        Assert.Equal("{\"type\":\"integer\",\"enum\":[0,1]}", receipt["properties"]!["color"]!.ToJsonString());
    }

    [Fact]
    public void DefaultValues_AreTheParametersCSharpDefaults()
    {
        string snapshot = "snapshot GeneratorSnapshotTests.DefaultValuesNullabilityAndComplexTypes.Shapes.IShapes.RpcDescriptor.verified.cs";
        JsonNode post = JsonNode.Parse(DocumentOf(snapshot))!["paths"]!["/Shapes/Defaults"]!["post"]!;
        JsonNode body = post["requestBody"]!["content"]!["application/json"]!["schema"]!;
        JsonNode properties = body["properties"]!;
        Assert.Equal(42, (int)properties["number"]!["default"]!);
        Assert.Equal("a \"quoted\"\nline", (string?)properties["text"]!["default"]);
        Assert.Null(properties["none"]!["default"]); // = null: the JSON null
        Assert.True(properties["none"]!.AsObject().ContainsKey("default"));
        Assert.Equal(-1, (int)properties["color"]!["default"]!);
        Assert.Equal(19.99m, (decimal)properties["price"]!["default"]!);
        Assert.Equal("'", (string?)properties["letter"]!["default"]);
        Assert.False(properties["nan"]!.AsObject().ContainsKey("default")); // JSON has no NaN
        Assert.Null(body["required"]);
    }

    [Fact]
    public async Task RequestsBuiltFromTheServedDocument_SucceedAgainstTheGateway()
    {
        await using GatewayApp app = await GatewayApp.StartAsync(map: a => a.MapGroup("/api").MapRpcGateway<IStore>(RpcGatewayTarget.InProcess));
        string json = await app.Http.GetStringAsync("/api/openapi/store.json");
        ReadResult read = OpenApiDocument.Parse(json, "json");
        Assert.Empty(read.Diagnostic!.Errors);
        JsonNode document = JsonNode.Parse(json)!;
        string server = (string)document["servers"]![0]!["url"]!;
        Assert.Equal("/api", server);

        // These fail, wait, never end or need a token by design.
        var skip = new HashSet<string>(StringComparer.Ordinal) { "/store/Fail", "/store/Slow", "/store/WhoAmI", "/store/Ticker" };
        int called = 0;
        foreach ((string path, JsonNode? item) in document["paths"]!.AsObject())
        {
            if (skip.Contains(path))
            {
                continue;
            }

            JsonNode post = item!["post"]!;
            JsonNode schema = post["requestBody"]!["content"]!["application/json"]!["schema"]!;
            string body = Sample(document, schema).ToJsonString();
            using HttpResponseMessage response = await app.Http.PostAsync(server + path, new StringContent(body, Encoding.UTF8, "application/json"));
            string answer = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"POST {path} {body}: {(int)response.StatusCode} {answer}");
            called++;

            if (item["get"] is { } get)
            {
                var query = new List<string>();
                foreach (JsonNode? parameter in get["parameters"]!.AsArray())
                {
                    if ((string?)parameter!["in"] != "query")
                    {
                        continue;
                    }

                    JsonNode value = parameter["schema"] is { } text
                        ? Sample(document, text)
                        : Sample(document, parameter["content"]!["application/json"]!["schema"]!);
                    string raw = value.GetValueKind() == JsonValueKind.String ? (string)value! : value.ToJsonString();
                    query.Add($"{parameter["name"]}={Uri.EscapeDataString(raw)}");
                }

                using HttpResponseMessage got = await app.Http.GetAsync(server + path + "?" + string.Join("&", query));
                string gotten = await got.Content.ReadAsStringAsync();
                Assert.True(got.StatusCode == HttpStatusCode.OK, $"GET {path}?{string.Join("&", query)}: {(int)got.StatusCode} {gotten}");
                called++;
            }
        }

        Assert.True(called >= 8, $"{called} requests");
    }

    /// <summary>A value that satisfies <paramref name="schema"/>: what a client generated from the document would send.</summary>
    private static JsonNode Sample(JsonNode document, JsonNode schema)
    {
        if (schema["$ref"] is { } reference)
        {
            string name = ((string)reference!)["#/components/schemas/".Length..];
            return Sample(document, document["components"]!["schemas"]![name]!);
        }

        if (schema["anyOf"] is JsonArray anyOf)
        {
            return Sample(document, anyOf.First(s => (string?)s!["type"] != "null")!);
        }

        if (schema["enum"] is JsonArray values)
        {
            return values[0]!.DeepClone();
        }

        switch ((string?)schema["type"])
        {
            case "object":
                var result = new JsonObject();
                if (schema["properties"] is JsonObject properties)
                {
                    foreach ((string name, JsonNode? property) in properties)
                    {
                        result[name] = Sample(document, property!);
                    }
                }

                return result;
            case "array":
                return new JsonArray(Sample(document, schema["items"]!));
            case "integer":
                return JsonValue.Create(2);
            case "number":
                return JsonValue.Create(1.5);
            case "boolean":
                return JsonValue.Create(true);
            case "string":
                return JsonValue.Create((string?)schema["format"] switch
                {
                    "uuid" => Guid.NewGuid().ToString(),
                    "date-time" => "2026-12-06T10:00:00+00:00",
                    "date" => "2026-12-06",
                    "time" => "10:00:00",
                    _ when schema["contentEncoding"] is not null => "AQID",
                    _ when schema["maxLength"] is not null => "x",
                    _ when schema["pattern"] is not null => "00:00:01",
                    _ => "pen",
                });
            default:
                return JsonValue.Create(1);
        }
    }
}

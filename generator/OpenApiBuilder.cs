using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using RpcGen.Generator.Helpers;
using RpcGen.Generator.Model;
using RpcGen.Shared;

namespace RpcGen.Generator;

/// <summary>
/// The OpenAPI 3.1 document of a service as the HTTP gateway serves it (docs/gateway.md#openapi), built from the
/// symbols at compile time: a path per method (POST, and GET for <c>[NoSideEffects]</c>), request and response
/// schemas from the types as System.Text.Json writes them with the service's options, XML doc comments as
/// descriptions, the error schema, and the bearer scheme of <c>[RpcAuthorize]</c>. Methods that take the
/// caller's stream are not served over HTTP, so they are not in it.
/// </summary>
internal sealed class OpenApiBuilder
{
    private const string Components = "#/components/schemas/";

    private readonly JsonOptions _options;
    private readonly Dictionary<ITypeSymbol, string> _named = new(SymbolEqualityComparer.Default);
    private readonly List<KeyValuePair<string, string>> _schemas = new();
    private readonly HashSet<string> _usedNames = new(StringComparer.Ordinal) { "RpcError", "RpcEnd" };

    private OpenApiBuilder(JsonOptions options) => _options = options;

    public static string Build(
        INamedTypeSymbol service, AttributeData serviceAttribute, string wireName, List<(MemberShape Shape, MethodSpec Spec)> methods)
    {
        var builder = new OpenApiBuilder(JsonOptions.Of(serviceAttribute));
        return builder.Document(service, wireName, methods);
    }

    private string Document(INamedTypeSymbol service, string wireName, List<(MemberShape Shape, MethodSpec Spec)> methods)
    {
        var paths = new JsonText().StartObject();
        bool secured = false;
        foreach ((MemberShape shape, MethodSpec spec) in methods)
        {
            if (spec.Stream is { Kind: StreamKind.Client or StreamKind.Duplex })
            {
                continue; // the gateway does not carry the caller's stream
            }

            var method = (IMethodSymbol)shape.Member;
            bool authorized = spec.Authorization is { AllowAnonymous: false };
            secured |= authorized;
            paths.Name("/" + wireName + "/" + spec.WireName).StartObject();
            paths.Name("post");
            Operation(paths, method, shape, spec, wireName, get: false, authorized);
            if (spec.Policy.NoSideEffects)
            {
                paths.Name("get");
                Operation(paths, method, shape, spec, wireName, get: true, authorized);
            }

            paths.EndObject();
        }

        paths.EndObject();

        var document = new JsonText().StartObject();
        document.Property("openapi", "3.1.1");
        document.Name("info").StartObject().Property("title", wireName).Property("version", "1");
        if (Documentation.Of(service) is { Summary: { Length: > 0 } summary })
        {
            document.Property("description", summary);
        }

        document.EndObject();
        document.Name("paths").Raw(paths.ToString());
        document.Name("components").StartObject();
        document.Name("schemas").StartObject();
        foreach (KeyValuePair<string, string> schema in _schemas)
        {
            document.Name(schema.Key).Raw(schema.Value);
        }

        document.Name("RpcError").Raw(
            "{\"type\":\"object\",\"description\":\"An error: its status code's name and a message.\",\"properties\":{\"code\":" + CodeSchema +
            ",\"message\":{\"type\":\"string\"}},\"required\":[\"code\",\"message\"]}");
        document.Name("RpcEnd").Raw(
            "{\"type\":\"object\",\"description\":\"How a stream ended: ok, or its error; and its trailers.\",\"properties\":{\"code\":" +
            CodeSchema + ",\"message\":{\"type\":\"string\"},\"trailers\":{\"type\":\"object\",\"additionalProperties\":" +
            "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}},\"required\":[\"code\"]}");
        document.EndObject();
        document.Name("responses").StartObject().Name("RpcError").StartObject()
            .Property("description", "The call failed: the HTTP status follows the error's code (docs/gateway.md#errors).")
            .Name("content").StartObject().Name("application/json").StartObject().Name("schema").Raw("{\"$ref\":\"" + Components + "RpcError\"}")
            .EndObject().EndObject().EndObject().EndObject();
        document.Name("parameters").StartObject().Name("RpcTimeout").StartObject()
            .Property("name", "Rpc-Timeout-Ms").Property("in", "header")
            .Property("description", "The call's deadline in milliseconds; the earlier of it and the method's own wins.")
            .Name("schema").Raw("{\"type\":\"integer\",\"minimum\":1,\"maximum\":9999999999}")
            .EndObject().EndObject();
        if (secured)
        {
            document.Name("securitySchemes").StartObject().Name("bearer").StartObject().Property("type", "http").Property("scheme", "bearer")
                .EndObject().EndObject();
        }

        document.EndObject();
        return document.EndObject().ToString();
    }

    private const string CodeSchema =
        "{\"type\":\"string\",\"enum\":[\"ok\",\"canceled\",\"unknown\",\"invalid_argument\",\"deadline_exceeded\",\"not_found\"," +
        "\"already_exists\"," +
        "\"permission_denied\",\"resource_exhausted\",\"failed_precondition\",\"aborted\",\"out_of_range\",\"unimplemented\",\"internal\"," +
        "\"unavailable\",\"data_loss\",\"unauthenticated\"]}";

    private void Operation(JsonText json, IMethodSymbol method, MemberShape shape, MethodSpec spec, string wireName, bool get, bool authorized)
    {
        Documentation docs = Documentation.Of(method);
        IParameterSymbol[] parameters = method.Parameters
            .Where(p => !RpcShapes.IsCancellationToken(p.Type) && !SymbolEqualityComparer.Default.Equals(p, shape.StreamParameter))
            .ToArray();
        json.StartObject();
        json.Property("operationId", wireName + "." + spec.WireName + (get ? ".get" : string.Empty));
        json.Name("tags").StartArray().Value(wireName).EndArray();
        string description = docs.Summary;
        if (spec.Authorization is { AllowAnonymous: false } authorization)
        {
            string roles = string.Join(" or ", authorization.RoleSets.Where(s => s.Length > 0).Select(s => s.Replace(",", " and ")));
            description = (description + (description.Length > 0 ? " " : string.Empty) +
                (roles.Length > 0 ? $"Requires a caller in role {roles}." : "Requires an authenticated caller.")).Trim();
        }

        if (description.Length > 0)
        {
            json.Property("description", description);
        }

        json.Name("parameters").StartArray();
        json.StartObject().Property("$ref", "#/components/parameters/RpcTimeout").EndObject();
        if (get)
        {
            foreach (IParameterSymbol parameter in parameters)
            {
                json.StartObject().Property("name", parameter.Name).Property("in", "query")
                    .Name("required").Value(!parameter.HasExplicitDefaultValue);
                if (docs.Parameter(parameter.Name) is { Length: > 0 } about)
                {
                    json.Property("description", about);
                }

                if (IsQueryText(parameter.Type))
                {
                    json.Name("schema").Raw(WithDefault(Schema(parameter.Type, parameter.NullableAnnotation), parameter));
                }
                else
                {
                    // A value is JSON (a number, true, an object): say so, as OpenAPI's content-encoded parameters do.
                    json.Name("content").StartObject().Name("application/json").StartObject()
                        .Name("schema").Raw(Schema(parameter.Type, parameter.NullableAnnotation)).EndObject().EndObject();
                }

                json.EndObject();
            }
        }

        json.EndArray();
        if (!get)
        {
            var body = new JsonText().StartObject().Property("type", "object");
            body.Name("properties").StartObject();
            foreach (IParameterSymbol parameter in parameters)
            {
                string schema = WithDefault(Schema(parameter.Type, parameter.NullableAnnotation), parameter);
                body.Name(parameter.Name).Raw(WithDescription(schema, docs.Parameter(parameter.Name)));
            }

            body.EndObject();
            string[] required = parameters.Where(p => !p.HasExplicitDefaultValue).Select(p => p.Name).ToArray();
            if (required.Length > 0)
            {
                body.Name("required").StartArray();
                foreach (string name in required)
                {
                    body.Value(name);
                }

                body.EndArray();
            }

            body.Name("additionalProperties").Value(false).EndObject();
            json.Name("requestBody").StartObject().Name("required").Value(required.Length > 0)
                .Name("content").StartObject().Name("application/json").StartObject().Name("schema").Raw(body.ToString())
                .EndObject().EndObject().EndObject();
        }

        json.Name("responses").StartObject().Name("200").StartObject();
        string returns = docs.Returns.Length > 0 ? docs.Returns : spec.Stream is null ? "The result." : "The stream's items, then its end.";
        json.Property("description", returns);
        json.Name("content").StartObject();
        if (spec.Stream is null)
        {
            json.Name("application/json").StartObject().Name("schema")
                .Raw(shape.Result is null ? "{\"type\":\"null\"}" : Schema(shape.Result, shape.Result.NullableAnnotation)).EndObject();
        }
        else
        {
            string item = Schema(shape.Result!, shape.Result!.NullableAnnotation);
            json.Name("application/x-ndjson").StartObject().Name("schema").Raw(
                "{\"description\":\"One object per line: an item as result (with its position in a resumable stream), the last line the end.\"," +
                "\"oneOf\":[{\"type\":\"object\",\"properties\":{\"result\":" + item + ",\"position\":{\"type\":\"integer\",\"format\":\"int64\"}}," +
                "\"required\":[\"result\"]},{\"type\":\"object\",\"properties\":{\"end\":{\"$ref\":\"" + Components + "RpcEnd\"}}," +
                "\"required\":[\"end\"]}]}")
                .EndObject();
            json.Name("text/event-stream").StartObject().Name("schema").Raw(
                "{\"type\":\"string\",\"description\":\"Server-Sent Events: a message event per item (data: the item's JSON; id: its position in a " +
                "resumable stream), then an end event (data: RpcEnd).\"}").EndObject();
        }

        json.EndObject().EndObject();
        json.Name("default").StartObject().Property("$ref", "#/components/responses/RpcError").EndObject();
        json.EndObject();
        if (authorized)
        {
            json.Name("security").StartArray().StartObject().Name("bearer").StartArray().EndArray().EndObject().EndArray();
        }

        json.EndObject();
    }

    /// <summary>The schema with the parameter's C# default value as <c>default</c>, when it has one JSON can say.</summary>
    private static string WithDefault(string schema, IParameterSymbol parameter)
    {
        if (!parameter.HasExplicitDefaultValue || !schema.StartsWith("{", StringComparison.Ordinal) || schema == "{}")
        {
            return schema;
        }

        var json = new JsonText();
        switch (parameter.ExplicitDefaultValue)
        {
            case null:
                json.Raw("null");
                break;
            case string text:
                json.Value(text);
                break;
            case char letter:
                json.Value(letter.ToString());
                break;
            case bool flag:
                json.Value(flag);
                break;
            case double d when double.IsNaN(d) || double.IsInfinity(d):
                return schema; // JSON has no NaN or infinity
            case float f when float.IsNaN(f) || float.IsInfinity(f):
                return schema;
            case IFormattable number when parameter.Type.TypeKind != TypeKind.Enum || !schema.Contains("\"type\":\"string\""):
                json.Raw(number.ToString(number is double or float ? "R" : null, System.Globalization.CultureInfo.InvariantCulture));
                break;
            default:
                return schema; // an enum written by name: its member is the schema's to say
        }

        return "{\"default\":" + json + "," + schema.Substring(1);
    }

    private static string WithDescription(string schema, string? description) =>
        string.IsNullOrEmpty(description) || !schema.StartsWith("{", StringComparison.Ordinal)
            ? schema
            : "{\"description\":" + new JsonText().Value(description!) + (schema.Length > 2 ? "," + schema.Substring(1) : "}");

    /// <summary>The query value of these types is their text, not JSON (the gateway's GET rule).</summary>
    private static bool IsQueryText(ITypeSymbol type)
    {
        if (type is INamedTypeSymbol { ConstructedFrom.SpecialType: SpecialType.System_Nullable_T } nullable)
        {
            type = nullable.TypeArguments[0];
        }

        return type.SpecialType is SpecialType.System_String or SpecialType.System_Char or SpecialType.System_DateTime ||
            FullName(type) is "System.Guid" or "System.DateTimeOffset" or "System.TimeSpan" or "System.DateOnly" or "System.TimeOnly" or "System.Uri";
    }

    /// <summary>The JSON schema of <paramref name="type"/> as the service's options write it; nullable types also take null.</summary>
    private string Schema(ITypeSymbol type, NullableAnnotation annotation)
    {
        if (type is INamedTypeSymbol { ConstructedFrom.SpecialType: SpecialType.System_Nullable_T } nullable)
        {
            return OrNull(Schema(nullable.TypeArguments[0], NullableAnnotation.NotAnnotated));
        }

        string schema = NonNull(type);
        return type.IsReferenceType && annotation != NullableAnnotation.NotAnnotated && type.NullableAnnotation != NullableAnnotation.NotAnnotated
            ? OrNull(schema)
            : schema;
    }

    private static string OrNull(string schema) => schema == "{}" ? schema : "{\"anyOf\":[" + schema + ",{\"type\":\"null\"}]}";

    private string NonNull(ITypeSymbol type)
    {
        switch (type.SpecialType)
        {
            case SpecialType.System_Boolean: return "{\"type\":\"boolean\"}";
            case SpecialType.System_Char: return "{\"type\":\"string\",\"minLength\":1,\"maxLength\":1}";
            case SpecialType.System_SByte or SpecialType.System_Int16 or SpecialType.System_Int32:
                return "{\"type\":\"integer\",\"format\":\"int32\"}";
            case SpecialType.System_Byte or SpecialType.System_UInt16: return "{\"type\":\"integer\",\"format\":\"int32\",\"minimum\":0}";
            case SpecialType.System_Int64: return "{\"type\":\"integer\",\"format\":\"int64\"}";
            case SpecialType.System_UInt32 or SpecialType.System_UInt64: return "{\"type\":\"integer\",\"format\":\"int64\",\"minimum\":0}";
            case SpecialType.System_Single: return "{\"type\":\"number\",\"format\":\"float\"}";
            case SpecialType.System_Double: return "{\"type\":\"number\",\"format\":\"double\"}";
            case SpecialType.System_Decimal: return "{\"type\":\"number\"}";
            case SpecialType.System_String: return "{\"type\":\"string\"}";
            case SpecialType.System_Object: return "{}";
            case SpecialType.System_DateTime: return "{\"type\":\"string\",\"format\":\"date-time\"}";
        }

        switch (FullName(type))
        {
            case "System.DateTimeOffset": return "{\"type\":\"string\",\"format\":\"date-time\"}";
            case "System.DateOnly": return "{\"type\":\"string\",\"format\":\"date\"}";
            case "System.TimeOnly": return "{\"type\":\"string\",\"format\":\"time\"}";
            case "System.TimeSpan": return "{\"type\":\"string\",\"pattern\":\"^-?(\\\\d+\\\\.)?\\\\d{2}:\\\\d{2}:\\\\d{2}(\\\\.\\\\d{1,7})?$\"}";
            case "System.Guid": return "{\"type\":\"string\",\"format\":\"uuid\"}";
            case "System.Uri": return "{\"type\":\"string\",\"format\":\"uri-reference\"}";
            case "System.Version": return "{\"type\":\"string\"}";
            case "System.Half": return "{\"type\":\"number\"}";
            case "System.Int128" or "System.UInt128" or "System.Numerics.BigInteger": return "{\"type\":\"integer\"}";
            case "System.Text.Json.JsonElement" or "System.Text.Json.JsonDocument" or "System.Text.Json.Nodes.JsonNode" or
                "System.Text.Json.Nodes.JsonObject" or "System.Text.Json.Nodes.JsonArray" or "System.Text.Json.Nodes.JsonValue":
                return "{}";
        }

        if (type is IArrayTypeSymbol array)
        {
            return array.ElementType.SpecialType == SpecialType.System_Byte && array.Rank == 1
                ? "{\"type\":\"string\",\"contentEncoding\":\"base64\"}"
                : "{\"type\":\"array\",\"items\":" + Schema(array.ElementType, array.ElementNullableAnnotation) + "}";
        }

        if (type is not INamedTypeSymbol named)
        {
            return "{}"; // a type parameter or a pointer: nothing to say
        }

        if (named.TypeKind == TypeKind.Enum)
        {
            return Enum(named);
        }

        if (FullName(named.ConstructedFrom) is "System.Memory`1" or "System.ReadOnlyMemory`1" &&
            named.TypeArguments[0].SpecialType == SpecialType.System_Byte)
        {
            return "{\"type\":\"string\",\"contentEncoding\":\"base64\"}";
        }

        if (named.IsTupleType)
        {
            var tuple = new JsonText().StartObject().Property("type", "object").Name("properties").StartObject();
            for (int i = 0; i < named.TupleElements.Length; i++)
            {
                tuple.Name(_options.Name("Item" + (i + 1))).Raw(Schema(named.TupleElements[i].Type, named.TupleElements[i].NullableAnnotation));
            }

            return tuple.EndObject().EndObject().ToString();
        }

        if (Dictionary(named) is { } value)
        {
            return "{\"type\":\"object\",\"additionalProperties\":" + Schema(value, value.NullableAnnotation) + "}";
        }

        if (Enumerable(named) is { } element)
        {
            return "{\"type\":\"array\",\"items\":" + Schema(element, element.NullableAnnotation) + "}";
        }

        return "{\"$ref\":\"" + Components + Component(named) + "\"}";
    }

    private string Enum(INamedTypeSymbol type)
    {
        bool names = _options.StringEnums || type.GetAttributes().Any(a =>
            RpcShapes.IsNamed(a.AttributeClass, "System.Text.Json.Serialization.JsonConverterAttribute") &&
            a.ConstructorArguments.Length == 1 && a.ConstructorArguments[0].Value is INamedTypeSymbol converter &&
            converter.Name == "JsonStringEnumConverter");
        var json = new JsonText().StartObject().Property("type", names ? "string" : "integer").Name("enum").StartArray();
        foreach (IFieldSymbol field in type.GetMembers().OfType<IFieldSymbol>().Where(f => f.HasConstantValue))
        {
            if (names)
            {
                string? custom = field.GetAttributes()
                    .FirstOrDefault(a => RpcShapes.IsNamed(a.AttributeClass, "System.Text.Json.Serialization.JsonStringEnumMemberNameAttribute"))
                    ?.ConstructorArguments.FirstOrDefault().Value as string;
                json.Value(custom ?? field.Name);
            }
            else
            {
                json.Raw(Convert.ToString(field.ConstantValue, System.Globalization.CultureInfo.InvariantCulture)!);
            }
        }

        return json.EndArray().EndObject().ToString();
    }

    /// <summary>The name of a type's schema in components; the schema is built the first time (a recursive type refers to itself).</summary>
    private string Component(INamedTypeSymbol type)
    {
        if (_named.TryGetValue(type, out string? known))
        {
            return known;
        }

        string name = ComponentName(type);
        string unique = name;
        for (int i = 2; !_usedNames.Add(unique); i++)
        {
            unique = name + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        _named.Add(type, unique);
        int slot = _schemas.Count;
        _schemas.Add(new KeyValuePair<string, string>(unique, "{}"));
        _schemas[slot] = new KeyValuePair<string, string>(unique, ObjectSchema(type));
        return unique;
    }

    private static string ComponentName(INamedTypeSymbol type)
    {
        var name = new StringBuilder(type.Name);
        if (type.TypeArguments.Length > 0)
        {
            name.Append("Of");
            foreach (ITypeSymbol argument in type.TypeArguments)
            {
                name.Append(argument switch
                {
                    INamedTypeSymbol n => ComponentName(n),
                    IArrayTypeSymbol a => a.ElementType.Name + "Array",
                    _ => argument.Name,
                });
            }
        }

        return name.ToString();
    }

    /// <summary>
    /// An object's properties as System.Text.Json writes them: public properties (and fields, when included), renamed and
    /// ignored as attributed.
    /// </summary>
    private string ObjectSchema(INamedTypeSymbol type)
    {
        var members = new List<(string Name, ITypeSymbol Type, NullableAnnotation Annotation, bool Required, ISymbol Symbol)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var chain = new List<INamedTypeSymbol>();
        INamedTypeSymbol? level = type;
        for (; level is not null && level.SpecialType is not (SpecialType.System_Object or SpecialType.System_ValueType); level = level.BaseType)
        {
            chain.Add(level);
        }

        if (type.TypeKind == TypeKind.Interface)
        {
            chain.AddRange(type.AllInterfaces);
        }

        foreach (INamedTypeSymbol t in chain)
        {
            foreach (ISymbol member in t.GetMembers())
            {
                if (member.IsStatic || member.DeclaredAccessibility != Accessibility.Public || member.IsImplicitlyDeclared && member is IFieldSymbol)
                {
                    continue;
                }

                (ITypeSymbol? memberType, NullableAnnotation annotation, bool required) = member switch
                {
                    IPropertySymbol { IsIndexer: false, GetMethod.DeclaredAccessibility: Accessibility.Public } p =>
                        (p.Type, p.NullableAnnotation, p.IsRequired),
                    IFieldSymbol { IsConst: false } f when _options.IncludeFields => (f.Type, f.NullableAnnotation, f.IsRequired),
                    _ => (null, NullableAnnotation.None, false),
                };
                if (memberType is null || Ignored(member))
                {
                    continue;
                }

                string name = JsonName(member) ?? _options.Name(member.Name);
                if (!seen.Add(name))
                {
                    continue; // hidden by a derived type's member
                }

                required |= member.GetAttributes()
                    .Any(a => RpcShapes.IsNamed(a.AttributeClass, "System.Text.Json.Serialization.JsonRequiredAttribute"));
                members.Add((name, memberType, annotation, required, member));
            }
        }

        var json = new JsonText().StartObject().Property("type", "object");
        if (Documentation.Of(type) is { Summary: { Length: > 0 } summary })
        {
            json.Property("description", summary);
        }

        json.Name("properties").StartObject();
        foreach ((string name, ITypeSymbol memberType, NullableAnnotation annotation, _, ISymbol symbol) in members)
        {
            json.Name(name).Raw(WithDescription(Schema(memberType, annotation), Documentation.Of(symbol).Summary));
        }

        json.EndObject();
        if (members.Any(m => m.Required))
        {
            json.Name("required").StartArray();
            foreach (var member in members.Where(m => m.Required))
            {
                json.Value(member.Name);
            }

            json.EndArray();
        }

        return json.EndObject().ToString();
    }

    private static bool Ignored(ISymbol member) => member.GetAttributes().Any(a =>
        RpcShapes.IsNamed(a.AttributeClass, "System.Text.Json.Serialization.JsonIgnoreAttribute") &&
        !a.NamedArguments.Any(n => n.Key == "Condition" && n.Value.Value is int condition && condition != 1)); // 1: Always

    private static string? JsonName(ISymbol member) => member.GetAttributes()
        .FirstOrDefault(a => RpcShapes.IsNamed(a.AttributeClass, "System.Text.Json.Serialization.JsonPropertyNameAttribute"))
        ?.ConstructorArguments.FirstOrDefault().Value as string;

    private static ITypeSymbol? Dictionary(INamedTypeSymbol type)
    {
        foreach (INamedTypeSymbol candidate in new[] { type }.Concat(type.AllInterfaces))
        {
            if (FullName(candidate.ConstructedFrom) is
                "System.Collections.Generic.IDictionary`2" or "System.Collections.Generic.IReadOnlyDictionary`2")
            {
                return candidate.TypeArguments[1];
            }
        }

        return null;
    }

    private static ITypeSymbol? Enumerable(INamedTypeSymbol type)
    {
        foreach (INamedTypeSymbol candidate in new[] { type }.Concat(type.AllInterfaces))
        {
            if (FullName(candidate.ConstructedFrom) == "System.Collections.Generic.IEnumerable`1")
            {
                return candidate.TypeArguments[0];
            }
        }

        return null;
    }

    private static string FullName(ITypeSymbol type) =>
        type.ContainingNamespace is { IsGlobalNamespace: false } ns
            ? ns.ToDisplayString() + "." + type.MetadataName
            : type.MetadataName;
}

/// <summary>The JSON options that shape the schemas: the service's named context's, or RpcGen's defaults (web: camelCase, fields included).</summary>
internal sealed class JsonOptions
{
    // JsonKnownNamingPolicy: 0 none, 1 camelCase, 2 snake_case_lower, 3 SNAKE_CASE_UPPER, 4 kebab-case-lower, 5 KEBAB-CASE-UPPER.
    private readonly int _policy;

    private JsonOptions(int policy, bool includeFields, bool stringEnums)
    {
        _policy = policy;
        IncludeFields = includeFields;
        StringEnums = stringEnums;
    }

    public bool IncludeFields { get; }

    public bool StringEnums { get; }

    public static JsonOptions Of(AttributeData serviceAttribute)
    {
        INamedTypeSymbol? context = serviceAttribute.NamedArguments.FirstOrDefault(a => a.Key == "JsonContext").Value.Value as INamedTypeSymbol;
        if (context is null)
        {
            return new JsonOptions(1, includeFields: true, stringEnums: false); // RpcDefaults.CreateSerializerOptions
        }

        AttributeData? options = context.GetAttributes()
            .FirstOrDefault(a => RpcShapes.IsNamed(a.AttributeClass, "System.Text.Json.Serialization.JsonSourceGenerationOptionsAttribute"));
        int policy = options?.ConstructorArguments.FirstOrDefault().Value is int defaults && defaults == 1 ? 1 : 0; // JsonSerializerDefaults.Web
        bool fields = false;
        bool enums = false;
        foreach (KeyValuePair<string, TypedConstant> argument in
            options?.NamedArguments ?? System.Collections.Immutable.ImmutableArray<KeyValuePair<string, TypedConstant>>.Empty)
        {
            switch (argument.Key)
            {
                case "PropertyNamingPolicy" when argument.Value.Value is int value: policy = value; break;
                case "IncludeFields" when argument.Value.Value is bool value: fields = value; break;
                case "UseStringEnumConverter" when argument.Value.Value is bool value: enums = value; break;
            }
        }

        return new JsonOptions(policy, fields, enums);
    }

    /// <summary>A member's name under the naming policy, as System.Text.Json's <c>JsonNamingPolicy</c> converts it.</summary>
    public string Name(string name) => _policy switch
    {
        1 => CamelCase(name),
        2 => Separated(name, '_', upper: false),
        3 => Separated(name, '_', upper: true),
        4 => Separated(name, '-', upper: false),
        5 => Separated(name, '-', upper: true),
        _ => name,
    };

    private static string CamelCase(string name)
    {
        if (name.Length == 0 || !char.IsUpper(name[0]))
        {
            return name;
        }

        char[] chars = name.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (i == 1 && !char.IsUpper(chars[i]))
            {
                break;
            }

            bool hasNext = i + 1 < chars.Length;
            if (i > 0 && hasNext && !char.IsUpper(chars[i + 1]))
            {
                if (chars[i + 1] == ' ')
                {
                    chars[i] = char.ToLowerInvariant(chars[i]);
                }

                break;
            }

            chars[i] = char.ToLowerInvariant(chars[i]);
        }

        return new string(chars);
    }

    private static string Separated(string name, char separator, bool upper)
    {
        var result = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            bool boundary = i > 0 && char.IsUpper(c) &&
                (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]) ||
                 (i + 1 < name.Length && char.IsLower(name[i + 1]) && char.IsUpper(name[i - 1])));
            if (boundary && result.Length > 0 && result[result.Length - 1] != separator)
            {
                result.Append(separator);
            }

            result.Append(upper ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
        }

        return result.ToString();
    }
}

/// <summary>The text of a symbol's XML doc comment: its summary, returns and parameters, with references as their names.</summary>
internal sealed class Documentation
{
    private static readonly Documentation s_none = new(string.Empty, string.Empty, new Dictionary<string, string>());
    private readonly Dictionary<string, string> _parameters;

    private Documentation(string summary, string returns, Dictionary<string, string> parameters)
    {
        Summary = summary;
        Returns = returns;
        _parameters = parameters;
    }

    public string Summary { get; }

    public string Returns { get; }

    public string? Parameter(string name) => _parameters.TryGetValue(name, out string? text) ? text : null;

    public static Documentation Of(ISymbol symbol)
    {
        string? xml = symbol.GetDocumentationCommentXml();
        if (string.IsNullOrWhiteSpace(xml))
        {
            return s_none;
        }

        try
        {
            string member = xml!.Trim().StartsWith("<member", StringComparison.Ordinal) ? xml : "<member>" + xml + "</member>";
            System.Xml.Linq.XElement root = System.Xml.Linq.XElement.Parse(member);
            var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (System.Xml.Linq.XElement parameter in root.Elements("param"))
            {
                if (parameter.Attribute("name")?.Value is { } name)
                {
                    parameters[name] = Text(parameter);
                }
            }

            return new Documentation(Text(root.Element("summary")), Text(root.Element("returns")), parameters);
        }
        catch (System.Xml.XmlException)
        {
            return s_none; // malformed comments are the compiler's to report (CS1570)
        }
    }

    private static string Text(System.Xml.Linq.XElement? element)
    {
        if (element is null)
        {
            return string.Empty;
        }

        var text = new StringBuilder();
        foreach (System.Xml.Linq.XNode node in element.Nodes())
        {
            switch (node)
            {
                case System.Xml.Linq.XText t:
                    text.Append(t.Value);
                    break;
                case System.Xml.Linq.XElement { Name.LocalName: "see" or "seealso" } see:
                    string reference = see.Attribute("cref")?.Value ?? see.Attribute("langword")?.Value ?? see.Attribute("href")?.Value ?? see.Value;
                    text.Append(reference.Substring(reference.LastIndexOfAny(new[] { '.', ':' }) + 1));
                    break;
                case System.Xml.Linq.XElement { Name.LocalName: "paramref" or "typeparamref" } named:
                    text.Append(named.Attribute("name")?.Value);
                    break;
                case System.Xml.Linq.XElement other:
                    text.Append(Text(other));
                    break;
            }
        }

        return string.Join(" ", text.ToString().Split(new[] { ' ', '\n', '\r', '\t' }, StringSplitOptions.RemoveEmptyEntries));
    }
}

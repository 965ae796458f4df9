using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using RpcGen.Client;
using Spectre.Console;

namespace RpcGen.Cli;

/// <summary>What the tool prints: JSON (indented, the default), NDJSON lines for streams, tables, the envelope of --full.</summary>
internal static class Output
{
    private static readonly JsonWriterOptions s_indented = new() { Indented = true };

    public static string Quote(string value) =>
        "\"" + JsonEncodedText.Encode(value, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping) + "\"";

    /// <summary>A value as indented JSON (a method without a result prints <c>null</c>).</summary>
    public static void Json(JsonElement value)
    {
        using Stream stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout, s_indented))
        {
            Write(writer, value);
        }

        stdout.WriteByte((byte)'\n');
    }

    /// <summary>A stream's item as one line of JSON.</summary>
    public static void Line(JsonElement value)
    {
        using Stream stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout))
        {
            Write(writer, value);
        }

        stdout.WriteByte((byte)'\n');
        stdout.Flush();
    }

    /// <summary>
    /// The whole outcome: <c>{"status","code","message","elapsedMs","headers","trailers","result"}</c>, as grpcurl users
    /// asked for (fullstorydev/grpcurl#575).
    /// </summary>
    public static void Envelope(RpcStatusCode status, string? message, RpcCallScope? scope, TimeSpan elapsed, JsonElement result)
    {
        using Stream stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout, s_indented))
        {
            writer.WriteStartObject();
            writer.WriteString("status", status.ToString());
            writer.WriteNumber("code", (int)status);
            if (message is not null)
            {
                writer.WriteString("message", message);
            }

            writer.WriteNumber("elapsedMs", Math.Round(elapsed.TotalMilliseconds, 3));
            Metadata(writer, "headers", scope?.ResponseHeaders);
            Metadata(writer, "trailers", scope?.ResponseTrailers);
            writer.WritePropertyName("result");
            Write(writer, result);
            writer.WriteEndObject();
        }

        stdout.WriteByte((byte)'\n');
    }

    public static void TableOf(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                Table(new[] { "field", "value" }, value.EnumerateObject().Select(p => new[] { p.Name, Cell(p.Value) }));
                break;
            case JsonValueKind.Array when value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Object):
                string[] columns = value.EnumerateArray().SelectMany(e => e.EnumerateObject().Select(p => p.Name)).Distinct().ToArray();
                Table(columns, value.EnumerateArray()
                    .Select(e => columns.Select(c => e.TryGetProperty(c, out JsonElement v) ? Cell(v) : string.Empty).ToArray()));
                break;
            default:
                Json(value);
                break;
        }
    }

    public static void Table(string[] columns, IEnumerable<string[]> rows)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (string column in columns)
        {
            table.AddColumn(new TableColumn(Markup.Escape(column)));
        }

        foreach (string[] row in rows)
        {
            table.AddRow(row.Select(cell => new Text(cell)).ToArray());
        }

        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 1000; // into a file or a pipe: one line per row, never wrapped at 80 columns
        }

        AnsiConsole.Write(table);
    }

    private static string Cell(JsonElement value) => value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();

    private static void Write(Utf8JsonWriter writer, JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Undefined)
        {
            writer.WriteNullValue();
        }
        else
        {
            value.WriteTo(writer);
        }
    }

    private static void Metadata(Utf8JsonWriter writer, string name, RpcMetadata? metadata)
    {
        writer.WriteStartObject(name);
        if (metadata is not null)
        {
            foreach (string key in metadata.Select(e => e.Key).Distinct())
            {
                writer.WriteStartArray(key);
                foreach (RpcMetadataEntry entry in metadata.Where(e => e.Key == key))
                {
                    writer.WriteStringValue(entry.IsBinary ? Convert.ToBase64String(entry.ValueBytes!) : entry.Value);
                }

                writer.WriteEndArray();
            }
        }

        writer.WriteEndObject();
    }
}

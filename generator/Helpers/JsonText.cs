using System.Globalization;
using System.Text;

namespace RpcGen.Generator.Helpers;

/// <summary>
/// A small JSON writer for documents the generator builds at compile time (the generator carries no System.Text.Json):
/// compact, deterministic, with commas placed for the caller.
/// </summary>
internal sealed class JsonText
{
    private readonly StringBuilder _text = new();
    private bool _needsComma;

    public JsonText StartObject() => Open('{');

    public JsonText EndObject() => Close('}');

    public JsonText StartArray() => Open('[');

    public JsonText EndArray() => Close(']');

    public JsonText Name(string name)
    {
        Separate();
        String(name);
        _text.Append(':');
        _needsComma = false;
        return this;
    }

    public JsonText Value(string value)
    {
        Separate();
        String(value);
        _needsComma = true;
        return this;
    }

    public JsonText Value(bool value) => Raw(value ? "true" : "false");

    public JsonText Value(long value) => Raw(value.ToString(CultureInfo.InvariantCulture));

    /// <summary>A value already written as JSON.</summary>
    public JsonText Raw(string json)
    {
        Separate();
        _text.Append(json);
        _needsComma = true;
        return this;
    }

    public JsonText Property(string name, string value) => Name(name).Value(value);

    public override string ToString() => _text.ToString();

    private JsonText Open(char bracket)
    {
        Separate();
        _text.Append(bracket);
        _needsComma = false;
        return this;
    }

    private JsonText Close(char bracket)
    {
        _text.Append(bracket);
        _needsComma = true;
        return this;
    }

    private void Separate()
    {
        if (_needsComma)
        {
            _text.Append(',');
        }
    }

    private void String(string value)
    {
        _text.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': _text.Append("\\\""); break;
                case '\\': _text.Append("\\\\"); break;
                case '\n': _text.Append("\\n"); break;
                case '\r': _text.Append("\\r"); break;
                case '\t': _text.Append("\\t"); break;
                default:
                    if (c < ' ')
                    {
                        _text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        _text.Append(c);
                    }

                    break;
            }
        }

        _text.Append('"');
    }
}

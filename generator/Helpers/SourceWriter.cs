using System.Text;

namespace RpcGen.Generator.Helpers;

/// <summary>An indenting text writer for generated C#. Multi-line strings are indented line by line.</summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _builder = new();
    private int _indent;

    public int Indentation
    {
        get => _indent;
        set => _indent = value;
    }

    public void OpenBlock()
    {
        WriteLine("{");
        _indent++;
    }

    public void CloseBlock(string suffix = "")
    {
        _indent--;
        WriteLine("}" + suffix);
    }

    public void WriteLine() => _builder.Append('\n');

    public void WriteLine(string text)
    {
        if (text.IndexOf('\n') >= 0)
        {
            foreach (string line in text.Replace("\r\n", "\n").Split('\n'))
            {
                WriteSingleLine(line);
            }

            return;
        }

        WriteSingleLine(text);
    }

    private void WriteSingleLine(string line)
    {
        if (line.Length > 0)
        {
            _builder.Append(' ', _indent * 4);
            _builder.Append(line);
        }

        _builder.Append('\n');
    }

    public override string ToString() => _builder.ToString();
}

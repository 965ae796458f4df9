using System.ComponentModel;
using System.Text.Json;

namespace RpcGen.Serialization;

/// <summary>
/// The arguments of one call, captured by a generated struct that writes them as a JSON array. A struct with a generic
/// constraint, so writing them needs neither boxing nor a delegate.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IRpcArguments
{
    /// <summary>Writes the arguments as one JSON array, in parameter order.</summary>
    void Write(Utf8JsonWriter writer);

    /// <summary>
    /// The stable hash of the <c>[HashKey]</c> arguments. Generated only for methods that have them; the invoker asks
    /// only those, so this default (which would box a struct) is never called.
    /// </summary>
    ulong GetHashKey() => 0;
}

using System;

namespace RpcGen;

/// <summary>
/// A streaming method's stream settings, as <see cref="StreamingAttribute"/> says (the generator writes one per
/// streaming method into its descriptor). Each setter checks its value.
/// </summary>
public sealed class RpcStreamingPolicy
{
    internal const int DefaultWindowItems = 64;
    internal const int DefaultWindowBytes = 256 * 1024;
    internal const int DefaultMaxWindowItems = 1024;

    /// <summary>The settings of a streaming method without <c>[Streaming]</c>.</summary>
    internal static readonly RpcStreamingPolicy Default = new();

    private int _windowItems = DefaultWindowItems;
    private int _windowBytes = DefaultWindowBytes;
    private int _maxWindowItems = DefaultMaxWindowItems;
    private int _idleTimeoutMs;

    /// <inheritdoc cref="StreamingAttribute.WindowItems"/>
    public int WindowItems
    {
        get => _windowItems;
        set => _windowItems = value is >= 1 and <= 65_536 ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "[Streaming(WindowItems)] must be between 1 and 65536.");
    }

    /// <inheritdoc cref="StreamingAttribute.MaxWindowItems"/>
    public int MaxWindowItems
    {
        get => _maxWindowItems;
        set => _maxWindowItems = value is >= 1 and <= 65_536 ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "[Streaming(MaxWindowItems)] must be between 1 and 65536.");
    }

    /// <inheritdoc cref="StreamingAttribute.WindowBytes"/>
    public int WindowBytes
    {
        get => _windowBytes;
        set => _windowBytes = value is >= 1024 and <= 64 * 1024 * 1024 ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "[Streaming(WindowBytes)] must be between 1024 and 67108864.");
    }

    /// <inheritdoc cref="StreamingAttribute.IdleTimeoutMs"/>
    public int IdleTimeoutMs
    {
        get => _idleTimeoutMs;
        set => _idleTimeoutMs = value >= 0 ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "[Streaming(IdleTimeoutMs)] must be 0 (none) or positive.");
    }

    /// <inheritdoc cref="StreamingAttribute.TimeoutCoversWholeStream"/>
    public bool TimeoutCoversWholeStream { get; set; }
}

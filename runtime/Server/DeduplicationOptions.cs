using System;

namespace RpcGen.Server;

/// <summary>
/// The window in which a server remembers the calls of <c>[Deduplicate]</c> methods, so that a retry of a call that
/// already ran gets its answer instead of running it again (docs/resilience.md). Bounded three ways: entries, bytes of
/// stored answers and age; the oldest go first. Each setter checks its value and throws an
/// <see cref="ArgumentOutOfRangeException"/> naming the setting. Configuration key: <c>Deduplication</c>.
/// </summary>
public sealed class DeduplicationOptions
{
    private int _capacity = 10_000;
    private long _maxBytes = 64L * 1024 * 1024;
    private TimeSpan _window = TimeSpan.FromMinutes(5);

    /// <summary>How many recent call ids the server remembers, with their answers; at least 1. The default value is 10,000.</summary>
    public int Capacity
    {
        get => _capacity;
        set => _capacity = Checked(value, value >= 1, nameof(Capacity), "must be at least 1");
    }

    /// <summary>
    /// The most bytes of stored answers kept; the oldest answers are dropped beyond it. 0 or more. The default value is
    /// 64 MiB.
    /// </summary>
    public long MaxBytes
    {
        get => _maxBytes;
        set => _maxBytes = Checked(value, value >= 0, nameof(MaxBytes), "must be 0 or more");
    }

    /// <summary>How long a finished call's answer is kept for its retries; positive. The default value is 5 minutes.</summary>
    public TimeSpan Window
    {
        get => _window;
        set => _window = Checked(value, value > TimeSpan.Zero, nameof(Window), "must be positive");
    }

    private static T Checked<T>(T value, bool valid, string name, string rule) =>
        valid ? value : throw new ArgumentOutOfRangeException("value", value, $"RpcServerOptions.Deduplication.{name} {rule}.");
}

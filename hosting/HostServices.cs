using System;
using Microsoft.Extensions.Logging;

namespace RpcGen.Hosting;

/// <summary>What a client or server built by the host takes from DI unless its options already set it.</summary>
internal static class HostServices
{
    /// <summary>The host's logger factory when none was set, and a TimeProvider registered in DI instead of the system clock.</summary>
    public static (ILoggerFactory? LoggerFactory, TimeProvider Time) Fill(IServiceProvider services, ILoggerFactory? loggerFactory, TimeProvider time) =>
        (loggerFactory ?? (ILoggerFactory?)services.GetService(typeof(ILoggerFactory)),
         ReferenceEquals(time, TimeProvider.System) && services.GetService(typeof(TimeProvider)) is TimeProvider registered ? registered : time);
}

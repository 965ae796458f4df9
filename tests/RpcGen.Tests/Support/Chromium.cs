namespace RpcGen.Tests.Support;

/// <summary>Debian's Chromium, which the browser tests drive headless (./build.sh test installs it; nothing is downloaded).</summary>
public static class Chromium
{
    /// <summary>The browser's path; throws with the command to install it when it is missing.</summary>
    public static string Path =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException(
            "The browser tests run a real headless Chromium: install it (apt-get install -y chromium; ./build.sh test does).");
}

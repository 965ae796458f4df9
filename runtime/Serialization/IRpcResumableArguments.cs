using System.ComponentModel;

namespace RpcGen.Serialization;

/// <summary>
/// The arguments of a <c>[Resumable]</c> stream's call: the same arguments with its <c>[ResumeFrom]</c> parameter set to a
/// position, for the call that resumes the stream after the last item its caller received.
/// </summary>
/// <typeparam name="TSelf">The generated arguments struct.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IRpcResumableArguments<TSelf> : IRpcArguments
    where TSelf : struct, IRpcResumableArguments<TSelf>
{
    /// <summary>These arguments with the <c>[ResumeFrom]</c> parameter set to <paramref name="position"/>.</summary>
    TSelf ResumeAfter(long position);
}

using System;

namespace RpcGen;

/// <summary>
/// Makes a server stream resumable (docs/streaming.md#resumable-streams): each item carries its position (the item's
/// <see cref="PositionProperty"/>, a <c>long</c>), and when the connection breaks or the server dies after the first
/// item, the generated client calls again, on any endpoint, with the method's <see cref="ResumeFromAttribute"/>
/// parameter set to the position of the last item its caller received. The caller sees every position once, in order,
/// and never the break. The handler must start after that position; one that no longer can throws an
/// <see cref="RpcException"/> with <see cref="RpcStatusCode.OutOfRange"/>, which the caller receives.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class ResumableAttribute : Attribute
{
    /// <summary>Positions come from the items' <c>Position</c> property.</summary>
    public ResumableAttribute() { }

    /// <summary>Positions come from the items' property named <paramref name="positionProperty"/>.</summary>
    public ResumableAttribute(string positionProperty) => PositionProperty = positionProperty;

    /// <summary>The item type's property (of type <c>long</c> or <c>int</c>) that holds each item's position.</summary>
    public string PositionProperty { get; } = "Position";
}

/// <summary>
/// The parameter of a <c>[Resumable]</c> stream that says where to start: null (or the caller's own value) on the first
/// call, the position of the last item the caller received on a call that resumes the stream. Of type <c>long?</c> or
/// <c>long</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter, Inherited = false, AllowMultiple = false)]
public sealed class ResumeFromAttribute : Attribute
{
}

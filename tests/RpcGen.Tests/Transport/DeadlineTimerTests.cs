using System.IO.Pipelines;
using RpcGen.Tests.Support;
using Xunit;
using static RpcGen.Tests.Transport.ReadLoopResumptionTests;

namespace RpcGen.Tests.Transport;

/// <summary>
/// A pooled call's deadline timer is lazy: it is not changed for a call whose deadline is no earlier than what it is
/// already set for, yet every call's deadline still fires on time, never before (a fire meant for an earlier call is
/// early for this one, and sets the timer again), and a shorter deadline than the pending one sets it at once.
/// </summary>
public sealed class DeadlineTimerTests
{
    private static async Task<PendingCall> SendAsync(ClientConnection connection, Pipe toServer, TimeProvider time, TimeSpan timeout)
    {
        PendingCall call = connection.TryStartCall(out _)!;
        long now = time.GetTimestamp();
        call.Arm(CancellationToken.None, now + (long)(timeout.TotalSeconds * time.TimestampFrequency), time, now);
        Assert.True(connection.TrySendRequest(call, Request(1, call.Id), out _));
        await ReadRequestsAsync(toServer.Reader, 1);
        return call;
    }

    private static async Task AnswerAsync(ClientConnection connection, Pipe toClient, PendingCall call)
    {
        await toClient.Writer.WriteAsync(Response(call.Id));
        ResponseData response = await call.AsValueTask().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Null(response.Error);
        response.Dispose();
        connection.Return(call);
    }

    /// <summary>The call is still running <paramref name="running"/> from now, and has failed its deadline <paramref name="then"/> later.</summary>
    private static async Task FailsBetweenAsync(Microsoft.Extensions.Time.Testing.FakeTimeProvider clock, Task<ResponseData> outcome, TimeSpan running, TimeSpan then)
    {
        clock.Advance(running);
        Assert.False(outcome.IsCompleted);
        clock.Advance(then);
        ResponseData response = await outcome.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(RpcStatusCode.DeadlineExceeded, Assert.IsType<RpcException>(response.Error).StatusCode);
    }

    [Fact]
    public async Task APooledCallsTimer_IsSetOncePerDeadlinePeriod_NotPerCall_AndEveryDeadlineStillFiresOnTime()
    {
        var time = new CountingTimeProvider();
        (ClientConnection connection, _, Pipe toClient, Pipe toServer) = await ConnectScriptedAsync(time);
        const string Owner = nameof(PendingCall);

        // 50 calls in a row on the one pooled instance, 30 s deadlines, 100 ms apart: the timer is made once, never changed.
        for (int i = 0; i < 50; i++)
        {
            PendingCall call = await SendAsync(connection, toServer, time, TimeSpan.FromSeconds(30));
            await AnswerAsync(connection, toClient, call);
            time.Fake.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal(1, time.Created.GetValueOrDefault(Owner));
        Assert.Equal(0, time.Changes.GetValueOrDefault(Owner));

        // Now (5 s in) a call the server never answers, deadline at 35 s. The timer, set for the first call's 30 s, fires
        // early for it: it must not fail then, but be set again and fail at 35 s.
        PendingCall unanswered = await SendAsync(connection, toServer, time, TimeSpan.FromSeconds(30));
        Task<ResponseData> outcome = unanswered.AsValueTask().AsTask();
        time.Fake.Advance(TimeSpan.FromSeconds(25.5));
        Assert.False(outcome.IsCompleted);
        Assert.Equal(1, time.Changes.GetValueOrDefault(Owner)); // set again once, for the rest of this call's time
        await FailsBetweenAsync(time.Fake, outcome, TimeSpan.FromSeconds(4.4), TimeSpan.FromSeconds(0.2));
        connection.Return(unanswered);

        // A call with a long deadline leaves the timer set for it; then a call with a short one must set it at once.
        PendingCall longOne = await SendAsync(connection, toServer, time, TimeSpan.FromSeconds(30));
        await AnswerAsync(connection, toClient, longOne);
        PendingCall shortOne = await SendAsync(connection, toServer, time, TimeSpan.FromMilliseconds(100));
        await FailsBetweenAsync(time.Fake, shortOne.AsValueTask().AsTask(), TimeSpan.FromMilliseconds(99), TimeSpan.FromMilliseconds(2));
        connection.Close(null);
    }
}

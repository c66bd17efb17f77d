namespace PipelineFramework.Llm;

/// <summary>An exchange that wanted to send more than its limit of requests: the request past it was never sent.</summary>
public sealed class LlmRequestLimitException(int maxRequests) : IOException($"more than {maxRequests} requests in one exchange")
{
    public int MaxRequests { get; } = maxRequests;
}

/// <summary>
/// Refuses to send more than <paramref name="maxRequests"/> requests through one connection (one kernel is made per
/// exchange). SK's tool loop asks the endpoint again after every reply that calls a tool, up to 128 times, and runs our
/// filters only for tools that exist with arguments that parse: an endpoint that keeps calling an unknown tool, or a
/// known one with arguments that are not JSON, is otherwise asked 129 times. Counting requests bounds every kind of round.
/// </summary>
sealed class RequestLimit(int maxRequests) : DelegatingHandler
{
    int _sent;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellation) =>
        Interlocked.Increment(ref _sent) > maxRequests
            ? Task.FromException<HttpResponseMessage>(new LlmRequestLimitException(maxRequests))
            : base.SendAsync(request, cancellation);
}

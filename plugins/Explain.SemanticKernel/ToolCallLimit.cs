using Microsoft.SemanticKernel;

namespace PipelineFramework.Explain.SemanticKernel;

/// <summary>
/// Ends the tool loop as soon as the model asks for more than <paramref name="max"/> tool calls, during the exchange:
/// SK's own bound is 128 requests, so an endpoint that answers every request with another tool call would otherwise be
/// asked (and paid) up to 128 times. With the limit the endpoint gets at most <paramref name="max"/> + 1 requests.
/// </summary>
sealed class ToolCallLimit(int max) : IAutoFunctionInvocationFilter
{
    int _calls;

    /// <summary>Whether the model asked for more calls than allowed (the loop was ended and the answer is void).</summary>
    public bool Exceeded => _calls > max;

    public async Task OnAutoFunctionInvocationAsync(AutoFunctionInvocationContext context, Func<AutoFunctionInvocationContext, Task> next)
    {
        if (Interlocked.Increment(ref _calls) > max)
        {
            context.Terminate = true;
            return;
        }
        await next(context).ConfigureAwait(false);
    }
}

using Microsoft.SemanticKernel;

namespace PipelineFramework.Explain.SemanticKernel;

/// <summary>
/// Ends the tool loop as soon as the model asks for more than <paramref name="max"/> tool calls, during the exchange:
/// SK's own bound is 128 requests, so an endpoint that answers every request with another tool call would otherwise be
/// asked (and paid) up to 128 times. SK runs no filter for a call to a tool that does not exist or with arguments that
/// are not JSON: those rounds are bounded by the connection's request limit, and the explainer counts every call asked
/// for in the chat once the exchange ends (a reply calling 300 unknown tools at once is 300 calls).
/// </summary>
sealed class ToolCallLimit(int max) : IAutoFunctionInvocationFilter
{
    int _calls;

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

using System.Net;
using Microsoft.SemanticKernel;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Llm;

/// <summary>
/// The one classification of "the endpoint failed", shared by every caller of a model (<c>explain.llm</c>,
/// <c>pf rules --propose</c>): whatever the SDK throws during an exchange becomes a <see cref="PipelineException"/>
/// whose message says what happened in one line (timeout, HTTP status with a hint, unreachable, a reply too large, a
/// redirect, too many requests for one answer, a reply that could not be read) and never carries an exception's
/// message, which can quote the URL or the key.
/// </summary>
public static class LlmFailure
{
    /// <summary>
    /// Runs one exchange with the endpoint under <see cref="LlmEndpointOptions.Timeout"/> (the whole exchange, tool loop
    /// included). Any failure but the caller's own cancellation is a <see cref="PipelineException"/>; the SDK runs no
    /// code of ours but tools, so anything it throws is the endpoint's doing (a body that is not JSON, JSON of another
    /// shape, no choices, a body cut off). <paramref name="timeoutOption"/> names the option that sets the timeout.
    /// </summary>
    public static async Task<T> CallAsync<T>(LlmEndpointOptions options, string timeoutOption, Func<CancellationToken, Task<T>> exchange,
        CancellationToken cancellation)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(options.Timeout);
        try
        {
            return await exchange(deadline.Token).ConfigureAwait(false);
        }
        catch (PipelineException)
        {
            throw;
        }
        catch (Exception e) when (!cancellation.IsCancellationRequested)
        {
            throw Describe(e, options, timeoutOption);
        }
    }

    /// <summary>What went wrong, in one line, from the exception's types and status code only.</summary>
    public static PipelineException Describe(Exception e, LlmEndpointOptions options, string timeoutOption)
    {
        var who = LlmConnection.Describe(options);
        var chain = Chain(e).ToList();
        if (chain.OfType<LlmReplyTooLargeException>().Any())
            return new PipelineException($"{who} sent a reply larger than {LlmConnection.MaxReplyBytes / (1024 * 1024)} MiB; it was not read");
        if (chain.OfType<LlmRequestLimitException>().FirstOrDefault() is { } limit)
            return new PipelineException($"{who} was still calling tools after {limit.MaxRequests} requests, the most one answer may take; the exchange was ended there");
        if (chain.OfType<LlmRedirectException>().FirstOrDefault() is { } redirect)
            return new PipelineException(redirect.Followed
                ? $"{who} redirected the request and the host's HTTP client followed the redirect, so the request (with its key header) went to another address; the reply was not used: lend a client that does not follow redirects"
                : $"{who} answered HTTP {redirect.Status}, a redirect to another address; redirects are not followed, so the key and the facts go only where the endpoint variable points ({LlmSecretNames.Endpoint} or {LlmSecretNames.AzureEndpoint}): set it to the new address if the move is expected");
        if (chain.Any(x => x is OperationCanceledException or TimeoutException))
            return new PipelineException($"{who} did not answer within {options.TimeoutSeconds:0.#} s (raise {timeoutOption} or check the endpoint)");
        if (chain.OfType<HttpOperationException>().FirstOrDefault(x => x.StatusCode is not null) is { StatusCode: { } status })
            return new PipelineException($"{who} answered HTTP {(int)status} ({status}){Hint(status)}");
        if (chain.OfType<HttpRequestException>().FirstOrDefault() is { HttpRequestError: HttpRequestError.NameResolutionError or
                HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError or HttpRequestError.ProxyTunnelError } unreachable)
            return new PipelineException($"{who} could not be reached ({unreachable.HttpRequestError}); check the endpoint URL ({LlmSecretNames.Endpoint} or {LlmSecretNames.AzureEndpoint})");
        return new PipelineException($"{who} sent a reply that could not be read ({chain[^1].GetType().Name})");
    }

    static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException) yield return x;
    }

    static string Hint(HttpStatusCode status) => status switch
    {
        HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => $"; check the API key ({LlmSecretNames.ApiKey}, {LlmSecretNames.OpenAIApiKey} or {LlmSecretNames.AzureApiKey})",
        HttpStatusCode.NotFound => "; check the model or deployment name and the endpoint URL",
        HttpStatusCode.TooManyRequests => "; the endpoint is rate limiting, try again later",
        >= HttpStatusCode.InternalServerError => "; the endpoint failed, try again later",
        _ => "",
    };
}

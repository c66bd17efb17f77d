using PipelineFramework.Abstractions;

namespace PipelineFramework.Llm;

/// <summary>A reply body longer than <see cref="LlmConnection.MaxReplyBytes"/>: refused while it arrives, never buffered whole.</summary>
public sealed class LlmReplyTooLargeException() : IOException($"the reply is longer than {LlmConnection.MaxReplyBytes} bytes");

/// <summary>
/// The endpoint answered with a redirect, HTTP <see cref="Status"/> (<see cref="Followed"/> false: it was not followed,
/// nothing went elsewhere), or the host's HttpClient followed one (true: the request went to the other address before
/// this could refuse it; <see cref="Status"/> is then the other address's).
/// </summary>
public sealed class LlmRedirectException(int status, bool followed) : IOException("the endpoint redirected the request")
{
    public int Status { get; } = status;
    public bool Followed { get; } = followed;
}

/// <summary>
/// Sends each request through the host's HttpClient (its handler, proxy and timeout) and hands the SDK a reply body
/// that fails with <see cref="LlmReplyTooLargeException"/> past <paramref name="maxBytes"/>: the SDK buffers whole
/// bodies, so without this a hostile endpoint's gigabyte reply would be held in memory (several times over) before any
/// check could refuse it. A declared Content-Length over the limit fails before the body is read.
/// A redirect is refused (<see cref="LlmRedirectException"/>), never followed: a client following one sends the request's
/// headers to the new address, and .NET drops only <c>Authorization</c> there, so Azure's <c>api-key</c> header, and
/// with 307 / 308 the body (the part's facts), would go to wherever the endpoint points. The host's own clients follow
/// none (<see cref="HostServices.CreateHttpClient"/>); a lent client known to follow them is refused before anything is
/// sent (<see cref="FollowsRedirects"/>), and one that follows them unseen is caught after the fact.
/// </summary>
sealed class ReplySizeLimit(HttpClient host, long maxBytes) : HttpMessageHandler
{
    /// <summary>
    /// Whether <paramref name="client"/> is known to follow redirects: its handlers, through every
    /// <see cref="DelegatingHandler"/> (IHttpClientFactory's chain among them), end in a <see cref="SocketsHttpHandler"/>
    /// or <see cref="HttpClientHandler"/> with <c>AllowAutoRedirect</c> on (the default of both). HttpClient does not
    /// show its handler, so it is read from HttpMessageInvoker's private field; where that cannot be read, or the chain
    /// ends in a handler of another kind, nothing is known (false) and the check after the reply is what remains.
    /// </summary>
    internal static bool FollowsRedirects(HttpClient client)
    {
        var handler = InvokerHandler?.GetValue(client) as HttpMessageHandler;
        while (handler is DelegatingHandler delegating) handler = delegating.InnerHandler;
        return handler switch
        {
            SocketsHttpHandler sockets => sockets.AllowAutoRedirect,
            HttpClientHandler classic => classic.AllowAutoRedirect,
            _ => false,
        };
    }

    static readonly System.Reflection.FieldInfo? InvokerHandler =
        typeof(HttpMessageInvoker).GetField("_handler", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellation)
    {
        // An HttpClient sends a request message once, and the SDK's client has marked this one: the host's gets a copy.
        var copy = new HttpRequestMessage(request.Method, request.RequestUri)
        {
            Version = request.Version, VersionPolicy = request.VersionPolicy, Content = request.Content,
        };
        foreach (var (name, values) in request.Headers) copy.Headers.TryAddWithoutValidation(name, values);
        var sentTo = copy.RequestUri;
        var response = await host.SendAsync(copy, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
        // The client's redirect handler rewrites the request's address as it follows a redirect.
        bool followed = response.RequestMessage?.RequestUri is { } answeredBy && answeredBy != sentTo;
        if (followed || (int)response.StatusCode is >= 300 and < 400)
        {
            var status = (int)response.StatusCode;
            response.Dispose();
            throw new LlmRedirectException(status, followed);
        }
        response.RequestMessage = request;
        if (response.Content.Headers.ContentLength > maxBytes)
        {
            response.Dispose();
            throw new LlmReplyTooLargeException();
        }
        var body = await response.Content.ReadAsStreamAsync(cancellation).ConfigureAwait(false);
        var limited = new StreamContent(new LimitedStream(body, maxBytes));
        foreach (var (name, values) in response.Content.Headers) limited.Headers.TryAddWithoutValidation(name, values);
        response.Content = limited;
        return response;
    }

    /// <summary>A read-only stream that throws once more than <c>max</c> bytes have been read from it.</summary>
    sealed class LimitedStream(Stream inner, long max) : Stream
    {
        long _read;

        int Count(int n)
        {
            _read += n;
            if (_read > max) throw new LlmReplyTooLargeException();
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
        public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));
        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellation) =>
            Count(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellation).ConfigureAwait(false));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellation = default) =>
            Count(await inner.ReadAsync(buffer, cancellation).ConfigureAwait(false));

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

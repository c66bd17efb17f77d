using System.Net;
using System.Text;

namespace PipelineFramework.Core.Evaluation;

/// <summary>
/// What every self-contained HTML report shares (<c>pf evaluate</c>'s, <c>pf automl</c>'s, and the copy the inspection
/// service serves): how text is escaped and what the page may load.
/// </summary>
public static class ReportHtml
{
    /// <summary>
    /// A report is data: its own inline styles and data: pictures, no script, nothing fetched. Names in it come from
    /// users (file, folder and pipeline names) and from LLMs (explanations); they are escaped, and should a piece of
    /// markup ever slip through, the browser still runs nothing and sends nothing anywhere.
    /// </summary>
    public const string ContentSecurityPolicy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

    /// <summary>Text for an element or a quoted attribute: &lt; &gt; &amp; " and ' escaped.</summary>
    public static string Text(string? text) => WebUtility.HtmlEncode(text ?? "");

    /// <summary>The doctype, the head (charset, <see cref="ContentSecurityPolicy"/>, title, style) and the opening body tag.</summary>
    public static StringBuilder Start(StringBuilder html, string title, string css) =>
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"").Append(ContentSecurityPolicy).Append("\">\n")
            .Append("<title>").Append(Text(title)).Append("</title>\n<style>\n").Append(css).Append("</style>\n</head>\n<body>\n");
}

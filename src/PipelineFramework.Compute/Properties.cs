using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("PipelineFramework.Tests")]
[assembly: InternalsVisibleTo("PipelineFramework.Bench")]

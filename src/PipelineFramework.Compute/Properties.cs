using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("PipelineFramework.Tests")]
[assembly: InternalsVisibleTo("PipelineFramework.Bench")]
[assembly: InternalsVisibleTo("PipelineFramework.Compute.Gpu")]

using PipelineFramework.Compute;

namespace PipelineFramework.Tests.Compute;

public class MapOpsPoolTests
{
    [Fact]
    public void AdaptiveAvgPool2d_matches_hand_values_for_even_and_uneven_bins()
    {
        // 4x4 -> 2x2: plain 2x2 means.
        float[] grid = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        Assert.Equal([3.5f, 5.5f, 11.5f, 13.5f], MapOps.AdaptiveAvgPool2d(grid, 4, 4, 2, 2));
        // 3 -> 2 on one row: bins [0,2) and [1,3) overlap, as in torch.
        Assert.Equal([1.5f, 2.5f], MapOps.AdaptiveAvgPool2d([1f, 2f, 3f], 1, 3, 1, 2));
    }
}

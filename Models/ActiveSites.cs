using Sparkle.Tensors;

namespace Sparkle.Models;

/// <summary>Re-masking inside model code (SPARK.md §8.5): in sparse mode, ops with f(0) != 0 must be followed by a
/// multiply with the active mask at the tensor's resolution; in dense mode it is the identity.</summary>
internal static class ActiveSites
{
    public static Tensor Remask(Tensor y) => y; // wired to the sparse mask context when Sparse lands
}

namespace Sparkle.Gpu.Kernels;

/// <summary>Where a dense (N, C, H, W) map lives and which sites it has: element (b, c, y, x) is at
/// Off + b·SN + c·SC + y·SH + x·SW (any strides). Count is the number of active rows.</summary>
public struct SparseMapArgs
{
    public int C, H, W, Off, SN, SC, SH, SW;
    public int Count, SitesOff, RowOfOff, RowsOff;
}

/// <summary>
/// A rows convolution dst[r, g·NG + n] = Σ_t Σ_kc src[j, g·KC + kc] · w[WOff + g·WGroup + kc·WK + n·WN + t·WT] (+ bias),
/// j = map[MapOff + r·Taps + t] (skipped when −1) or r itself when Identity. The forward reads input rows (KC = C/groups,
/// NG = O/groups); the input gradient reads output-gradient rows through the inverse map with the weight's roles swapped
/// (KC = O/groups, NG = C/groups), so one kernel serves both. Summation order: t ascending, then kc ascending, bias last.
/// </summary>
public struct SparseRowsArgs
{
    public int M, Taps, Identity, MapOff;
    public int SrcC, SrcOff, DstC, DstOff;
    public int KC, NG;
    public int WGroup, WK, WN, WT, WOff;
    public int HasBias, BOff;
}

/// <summary>
/// The weight and bias gradient of a rows convolution, split over row chunks: dW[o, cl, t] = Σ_r x[j, g·Cg + cl]·dy[r, o]
/// with j = map[r·Taps + t] (or r for the identity), db[o] = Σ_r dy[r, o]; rows [p·Chunk, (p+1)·Chunk) go to partial p,
/// and a second launch adds the Parts partials in ascending order (deterministic, no atomics).
/// </summary>
public struct SparseWeightArgs
{
    public int Rows, Taps, Identity, MapOff;
    public int C, XOff, O, DyOff;
    public int Cg, Og, Groups;
    public int NeedW, NeedB, Chunk, Parts;
    /// <summary>Tiled partials: rows M' = Taps·Cg (+1 for the bias) by Og columns per group; simple partials: Q outputs.</summary>
    public int Tiled, MRows;
}

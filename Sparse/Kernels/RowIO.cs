using Sparkle.Tensors;
using Sparkle.Tensors.Cpu;

namespace Sparkle.Sparse.Kernels;

/// <summary>
/// Moves values between dense (B, C, H, W) tensors (any strides: NCHW-contiguous, channels-last, views) and
/// channels-last row matrices (row r = active site r, C contiguous values). Work is proportional to active sites
/// (the dense output is zero-filled by allocation).
/// </summary>
internal static class RowIO
{
    public static T[] Data<T>(Tensor t) where T : unmanaged => t.Storage is CpuStorage<T> s ? s.Data
        : throw new InvalidOperationException($"Sparse kernels need a cpu {typeof(T).Name} tensor, got {t.DType.Name()} on {t.Device} {ShapeUtil.Format(t.Shape)}.");

    /// <summary>Channels-last in PyTorch's sense (C has unit stride).</summary>
    public static bool IsChannelsLast(Tensor t) => t.Rank == 4 && t.Size(1) > 1 && t.Stride(1) == 1 && !(t.Size(3) > 1 && t.Stride(3) == 1);

    /// <summary>rows[r * C + c] = x[b, c, y, x] for every active site r = (b, y, x).</summary>
    public static void Gather<T>(Tensor x, ActiveSites s, T[] rows) where T : unmanaged
    {
        var data = Data<T>(x);
        int off = x.Offset, c = x.Size(1), h = s.Height, w = s.Width;
        int s0 = x.Stride(0), s1 = x.Stride(1), s2 = x.Stride(2), s3 = x.Stride(3);
        var sites = s.Sites;
        IntraOpPool.ForRange(s.Count, 128, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int site = sites[r], b = site / (h * w), rem = site - b * h * w, y = rem / w, xx = rem - y * w;
                int src = off + b * s0 + y * s2 + xx * s3;
                if (s1 == 1) data.AsSpan(src, c).CopyTo(rows.AsSpan(r * c, c));
                else
                {
                    var dst = rows.AsSpan(r * c, c);
                    for (int k = 0; k < dst.Length; k++) dst[k] = data[src + k * s1];
                }
            }
        });
    }

    /// <summary>A zero (B, C, H, W) tensor (channels-last strides when asked) with rows written at the active sites.</summary>
    public static Tensor Scatter<T>(T[] rows, ActiveSites s, int c, bool channelsLast) where T : unmanaged
    {
        int n = s.Batch, h = s.Height, w = s.Width;
        var dtype = DTypes.Of<T>();
        Tensor y = channelsLast ? Tensor.Zeros([n, h, w, c], dtype).Permute(0, 3, 1, 2) : Tensor.Zeros([n, c, h, w], dtype);
        var data = Data<T>(y);
        int s0 = y.Stride(0), s1 = y.Stride(1), s2 = y.Stride(2), s3 = y.Stride(3);
        var sites = s.Sites;
        IntraOpPool.ForRange(s.Count, 128, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int site = sites[r], b = site / (h * w), rem = site - b * h * w, yy = rem / w, xx = rem - yy * w;
                int dst = b * s0 + yy * s2 + xx * s3;
                if (s1 == 1) rows.AsSpan(r * c, c).CopyTo(data.AsSpan(dst, c));
                else
                {
                    var src = rows.AsSpan(r * c, c);
                    for (int k = 0; k < src.Length; k++) data[dst + k * s1] = src[k];
                }
            }
        });
        return y;
    }
}

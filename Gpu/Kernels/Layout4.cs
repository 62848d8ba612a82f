namespace Sparkle.Gpu.Kernels;

/// <summary>
/// A logical shape shared by up to four operands, each with its own strides and offset (operand 0 is the
/// output by convention). A kernel thread turns its row-major linear index into the four storage offsets
/// with one pass of divisions; unused operands have zero strides and cost nothing but the multiply.
/// </summary>
public struct Layout4
{
    public int Rank;
    public Dims8 Shape, S0, S1, S2, S3;
    public int O0, O1, O2, O3;

    public readonly void Locate(int linear, out int a, out int b, out int c, out int d)
    {
        a = O0; b = O1; c = O2; d = O3;
        for (int k = Rank - 1; k >= 0; k--)
        {
            int n = Shape[k];
            int q = linear / n;
            int r = linear - q * n;
            a += r * S0[k];
            b += r * S1[k];
            c += r * S2[k];
            d += r * S3[k];
            linear = q;
        }
    }
}

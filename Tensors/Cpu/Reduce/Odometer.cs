namespace Sparkle.Tensors.Cpu.Reduce;

/// <summary>Walks a mixed-radix index space (shape) from a flat start position, tracking one storage offset.</summary>
internal sealed class Odometer
{
    private readonly int[] _shape, _strides, _idx;
    public int Offset;

    public Odometer(int[] shape, int[] strides, int baseOffset, int start, int dims = -1)
    {
        int n = dims < 0 ? shape.Length : dims;
        _shape = shape[..n]; _strides = strides[..n]; _idx = new int[n];
        Offset = baseOffset;
        for (int d = n - 1; d >= 0; d--)
        {
            _idx[d] = start % _shape[d];
            start /= _shape[d];
            Offset += _idx[d] * _strides[d];
        }
    }

    public void Next()
    {
        for (int d = _idx.Length - 1; d >= 0; d--)
        {
            Offset += _strides[d];
            if (++_idx[d] < _shape[d]) return;
            Offset -= _strides[d] * _shape[d];
            _idx[d] = 0;
        }
    }

    /// <summary>Storage offset of flat position p (without moving), over the first dims of shape.</summary>
    public static int OffsetOf(int[] shape, int[] strides, int p, int dims = -1)
    {
        int n = dims < 0 ? shape.Length : dims, off = 0;
        for (int d = n - 1; d >= 0; d--)
        {
            off += p % shape[d] * strides[d];
            p /= shape[d];
        }
        return off;
    }
}

namespace Sparkle.Gpu.Kernels;

/// <summary>Up to eight ints (a shape or a stride vector) passed to kernels by value. Fixed fields rather
/// than an array: kernel parameters must be blittable structs, and eight covers every collapsed tensor rank.</summary>
public struct Dims8
{
    public const int MaxRank = 8;
    public int D0, D1, D2, D3, D4, D5, D6, D7;

    public int this[int i]
    {
        readonly get => i switch { 0 => D0, 1 => D1, 2 => D2, 3 => D3, 4 => D4, 5 => D5, 6 => D6, _ => D7 };
        set
        {
            switch (i)
            {
                case 0: D0 = value; break;
                case 1: D1 = value; break;
                case 2: D2 = value; break;
                case 3: D3 = value; break;
                case 4: D4 = value; break;
                case 5: D5 = value; break;
                case 6: D6 = value; break;
                default: D7 = value; break;
            }
        }
    }
}

using Sparkle.Nn;
using Sparkle.Nn.Layers;
using Sparkle.Tensors;

namespace Sparkle.Models.Spark;

/// <summary>
/// SparK's LightDecoder (SPARK.md §2.3): log2(upSampleRatio) UNet blocks halving the width from <c>width</c>
/// (768 -> 384 -> ... -> 24 for ratio 32), each ConvTranspose2d(k4, s2, p1) then 2 x [3x3 conv, BN] with ReLU6
/// between; then a 1x1 head to 3 channels. Skips from the densified encoder maps are added before the first blocks.
/// Keys: dec.{k}.up_sample.*, dec.{k}.conv.{0,3}.weight, dec.{k}.conv.{1,4}.* (BN), proj.*.
/// </summary>
public sealed class LightDecoder : Module
{
    public LightDecoder(int upSampleRatio = 32, int width = 768, DType dtype = DType.Float32, Generator? generator = null, bool initialize = true)
    {
        if (upSampleRatio < 2 || (upSampleRatio & (upSampleRatio - 1)) != 0)
            throw new ArgumentException($"LightDecoder: the up-sampling ratio must be a power of two >= 2, got {upSampleRatio}.");
        int n = System.Numerics.BitOperations.Log2((uint)upSampleRatio);
        Width = width;
        Channels = Enumerable.Range(0, n + 1).Select(i => width >> i).ToArray();
        if (Channels[^1] < 1) throw new ArgumentException($"LightDecoder: width {width} is too small for {n} halvings.");
        var dec = RegisterModule("dec", new ModuleList());
        for (int i = 0; i < n; i++) dec.Add(new UNetBlock(Channels[i], Channels[i + 1], dtype, generator));
        RegisterModule("proj", new Conv2d(Channels[^1], 3, 1, dtype: dtype, generator: generator));
        if (initialize) Initialize(generator);
    }

    public int Width { get; }

    /// <summary>Widths of the block inputs and the last block's output: [width, width/2, ...].</summary>
    public int[] Channels { get; }

    /// <summary>
    /// Decodes from the densified maps, deepest first (index 0 = the smallest map, width channels); map k is added
    /// before block k (and a map after the last block before the head). A null entry (single-scale ablations) skips
    /// that addition.
    /// </summary>
    public Tensor Forward(IReadOnlyList<Tensor?> densified)
    {
        var dec = Child<ModuleList>("dec");
        Tensor? x = null;
        for (int k = 0; k < dec.Count; k++)
        {
            if (k < densified.Count && densified[k] is { } skip) x = x is null ? skip : x + skip;
            if (x is null) throw new ArgumentException("LightDecoder: the deepest densified map is missing.");
            x = dec[k].Forward(x);
            TensorMemory.SafePoint();                                        // see Sequential: reuse within the forward
        }
        // Encoders whose total stride is smaller than their number of maps allows (the small-image ResNet stem: maps at
        // strides 8, 4, 2, 1 for 3 blocks) hand one more map at full resolution: it joins before the head.
        if (densified.Count > dec.Count && densified[dec.Count] is { } last) x = x! + last;
        if (densified.Count > dec.Count + 1)
            throw new ArgumentException($"LightDecoder: {densified.Count} maps for {dec.Count} blocks.");
        return Child<Module>("proj").Forward(x!);
    }

    /// <summary>The official initialize(): Conv2d trunc_normal(.02) with bias 0; ConvTranspose2d kaiming_normal(fan_out, relu)
    /// with bias 0; BN γ=1, β=0 (already their construction values).</summary>
    private void Initialize(Generator? g)
    {
        foreach (var (_, m) in NamedModules())
        {
            switch (m)
            {
                case Conv2d c:
                    Init.TruncNormal_(c.Weight, std: 0.02, generator: g);
                    if (c.Bias is not null) Init.Zeros_(c.Bias);
                    break;
                case ConvTranspose2d t:
                    Init.KaimingNormal_(t.Weight, mode: FanMode.FanOut, nonlinearity: Nonlinearity.Relu, generator: g);
                    if (t.Bias is not null) Init.Zeros_(t.Bias);
                    break;
            }
        }
    }
}

/// <summary>ConvTranspose2d(cin, cin, 4, 2, 1) -> [conv3x3 cin->cin, BN, ReLU6, conv3x3 cin->cout, BN] (no bias in the convs).</summary>
public sealed class UNetBlock : Module
{
    public UNetBlock(int cin, int cout, DType dtype, Generator? g)
    {
        RegisterModule("up_sample", new ConvTranspose2d(cin, cin, 4, stride: 2, padding: 1, dtype: dtype, generator: g));
        RegisterModule("conv", new Sequential(
            new Conv2d(cin, cin, 3, padding: 1, bias: false, dtype: dtype, generator: g), new BatchNorm2d(cin, dtype: dtype), new ReLU6(),
            new Conv2d(cin, cout, 3, padding: 1, bias: false, dtype: dtype, generator: g), new BatchNorm2d(cout, dtype: dtype)));
    }

    /// <summary>The Sequential's children in order (so its parameter names stay conv.0 ... conv.4), with the BN at index 1
    /// and the ReLU6 after it run as one fused kernel (<see cref="BatchNorm.ForwardThen"/>); memory safe points between
    /// children as in <see cref="Sequential.Forward"/>.</summary>
    public override Tensor Forward(Tensor x)
    {
        var conv = Child<Sequential>("conv");
        x = Child<Module>("up_sample").Forward(x);
        for (int i = 0; i < conv.Count; i++)
        {
            bool fuse = i == 1 && conv.Count > 2;
            x = fuse ? BatchNorm.ForwardThen(conv[1], conv[2], x) : conv[i].Forward(x);
            if (fuse) i++;
            TensorMemory.SafePoint();
        }
        return x;
    }
}

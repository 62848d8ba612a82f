using System.Xml.Linq;
using Sparkle.Data;
using Sparkle.Tensors;
using StbImageSharp;
using Xunit;

namespace Sparkle.Tests.Data;

/// <summary>PNG of one tensor, PNG grids (decoded back), SVG loss chart (parsed back).</summary>
public class ImageOutputTests : DataTestBase
{
    [Fact]
    public void SinglePngRoundTrips()
    {
        var vals = new float[3 * 4 * 5];
        for (int i = 0; i < vals.Length; i++) vals[i] = i / (float)(vals.Length - 1);
        vals[0] = -3; vals[1] = 7; // clamped
        var path = PathOf("one.png");
        PngWriter.Save(Tensor.FromArray(vals, [3, 4, 5]), path);
        var img = ImageResult.FromMemory(File.ReadAllBytes(path), ColorComponents.RedGreenBlue);
        Assert.Equal((5, 4), (img.Width, img.Height));
        Assert.Equal(0, img.Data[0]);
        Assert.Equal(255, img.Data[3]);
        Assert.Equal((byte)MathF.Round(vals[20 + 7] * 255), img.Data[7 * 3 + 1]); // channel 1, pixel 7

        var grey = ImageResult.FromMemory(PngWriter.Encode(Tensor.FromArray(new float[] { 0, 0.5f, 1, 0.25f }, [1, 2, 2])), ColorComponents.Default);
        Assert.Equal(ColorComponents.Grey, grey.SourceComp);
        Assert.Equal(new byte[] { 0, 128, 255, 64 }, grey.Data);
    }

    [Fact]
    public void GridHasRowsOfColumnsDenormalised()
    {
        var n = Normalization.ImageNet;
        int rows = 3, h = 4, w = 6, pad = 2;
        var cols = new Tensor[3];
        for (int k = 0; k < 3; k++)
        {
            var v = new float[rows * 3 * h * w];
            for (int i = 0; i < rows; i++)
                for (int c = 0; c < 3; c++)
                    for (int p = 0; p < h * w; p++)
                        v[(i * 3 + c) * h * w + p] = ((0.1f * (k + 1) + 0.2f * i) - n.Mean[c]) / n.Std[c]; // de-normalises to 0.1(k+1) + 0.2i
            cols[k] = Tensor.FromArray(v, [rows, 3, h, w]);
        }
        var path = PathOf("grid.png");
        PngWriter.SaveGrid(path, cols, n, padding: pad);
        var img = ImageResult.FromMemory(File.ReadAllBytes(path), ColorComponents.RedGreenBlue);
        Assert.Equal(3 * w + 4 * pad, img.Width);
        Assert.Equal(rows * h + (rows + 1) * pad, img.Height);
        for (int i = 0; i < rows; i++)
            for (int k = 0; k < 3; k++)
            {
                int x = pad + k * (w + pad) + 1, y = pad + i * (h + pad) + 1;
                int expected = (int)MathF.Round((0.1f * (k + 1) + 0.2f * i) * 255);
                for (int c = 0; c < 3; c++) Assert.InRange(img.Data[(y * img.Width + x) * 3 + c], expected - 1, expected + 1);
            }
        Assert.Equal(255, img.Data[0]); // padding is the background

        var e = Assert.Throws<ArgumentException>(() => PngWriter.EncodeGrid([cols[0], Tensor.Zeros([3, 3, 4, 5])]));
        Assert.Contains("column 1", e.Message);
    }

    [Fact]
    public void SvgChartIsWellFormedAndDrawsEveryFinitePoint()
    {
        var loss = Enumerable.Range(0, 50).Select(i => 1.0 / (i + 1)).ToList();
        loss[10] = double.NaN;
        var path = PathOf("loss.svg");
        SvgLineChart.Save(path, "loss <pre-train>", loss, logY: true);
        var doc = XDocument.Load(path);
        XNamespace ns = "http://www.w3.org/2000/svg";
        var line = doc.Descendants(ns + "polyline").Single();
        Assert.Equal(49, line.Attribute("points")!.Value.Split(' ').Length);
        Assert.Contains(doc.Descendants(ns + "text"), t => t.Value == "loss <pre-train>");
        Assert.Contains(doc.Descendants(ns + "text"), t => t.Value == "loss (log)");
    }
}

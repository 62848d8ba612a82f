using Sparkle.Cli;
using Sparkle.Tests.Gpu;
using Xunit;

namespace Sparkle.Tests.Cli;

/// <summary>`--device` of the training commands: parsing, a clear error when the device is missing.</summary>
[Collection(CliCollection.Name)]
public class DeviceCliTests
{
    [Theory]
    [InlineData("cpu", true)]
    [InlineData("cuda", true)]
    [InlineData("cuda:1", true)]
    [InlineData("opencl", true)]
    [InlineData("ilgpu-cpu", true)]
    [InlineData("gpu", false)]
    [InlineData("cuda:x", false)]
    [InlineData("cpu:1", false)]
    public void DeviceNamesParse(string name, bool known) => Assert.Equal(known, DeviceSession.ParseName(name) is not null);

    [Fact]
    public void UnknownDeviceIsAUsageError()
    {
        var err = new StringWriter();
        Assert.Equal(2, Program.Run(["pretrain", "--device", "tpu"], TextWriter.Null, err));
        Assert.Contains("unknown --device 'tpu'", err.ToString());
        Assert.Contains("ilgpu-cpu", err.ToString());
    }

    [FactWithoutCuda]
    public void MissingCudaFailsWithAClearMessage()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(perClass: 2);
        var err = new StringWriter();
        foreach (var cmd in new[] { "pretrain", "finetune", "linear-probe" })
        {
            err.GetStringBuilder().Clear();
            int rc = Program.Run([cmd, "--device", "cuda", "--data", data, "--input-size", "16", "--output", tmp.Dir(cmd), "--quiet"], TextWriter.Null, err);
            Assert.Equal(1, rc);
            Assert.Contains("--device cuda is not available", err.ToString());
            Assert.Contains("no Cuda device", err.ToString());             // names what was found (none)
        }
    }
}

/// <summary>A tiny `pretrain --device ilgpu-cpu` on ILGPU's CPU simulator gives the CPU backend's first loss. Shares the GPU
/// tests' accelerator (the CLI reuses a registered device). Slow: one ResNet-18 step on the simulator takes minutes.</summary>
[Collection(IlgpuCollection.Name)]
[Trait("Category", "Slow")]
public class DevicePretrainCliTests
{
    [Fact]
    public void IlgpuCpuPretrainGivesTheCpuFirstLoss()
    {
        using var tmp = new CliTemp();
        string data = tmp.ImageFolder(perClass: 2);
        string[] Tiny(string device) =>
        [
            "--data", data, "--output", tmp.Dir(device), "--input-size", "16", "--batch-size", "2", "--epochs", "2", "--warmup-epochs", "0.5",
            "--dec-width", "16", "--workers", "0", "--log-every", "1", "--vis-images", "1", "--seed", "3", "--stop-at", "1", "--quiet", "--device", device,
            "--opt", "sgd", "--clip", "0",    // the first loss is taken before the update; SGD is the cheapest update on the simulator
        ];
        var cpu = PretrainCommand.Run(PretrainArgs.Parse(Tiny("cpu")), TextWriter.Null);
        var dev = PretrainCommand.Run(PretrainArgs.Parse(Tiny("ilgpu-cpu")), TextWriter.Null);
        Assert.True(dev.Interrupted, "the device run did not reach --stop-at");
        Assert.Single(cpu.StepLosses);
        Assert.Single(dev.StepLosses);
        Assert.True(double.IsFinite(dev.StepLosses[0]));
        Assert.True(Math.Abs(cpu.StepLosses[0] - dev.StepLosses[0]) <= 1e-4, $"first loss: ilgpu-cpu {dev.StepLosses[0]:R}, cpu {cpu.StepLosses[0]:R}");
        // The checkpoint came back to the host and loads.
        Assert.True(File.Exists(Path.Combine(tmp.Dir("ilgpu-cpu"), "resnet18_withdecoder_1kpretrained_spark_style.safetensors")));
    }
}

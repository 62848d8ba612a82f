using Sparkle.Nn;

namespace Sparkle.Models;

/// <summary>Backbones by their timm names (resnet18..200, convnext_atto..large).</summary>
public static class Backbones
{
    public static readonly string[] Names =
    [
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet200",
        "convnext_atto", "convnext_femto", "convnext_pico", "convnext_nano", "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
    ];

    /// <summary>Builds the named backbone; <paramref name="smallStem"/> gives the small-image ResNet stem (total stride 8).</summary>
    public static Module Create(string name, ModelOptions? options = null, bool smallStem = false) => name switch
    {
        "resnet18" => ResNet.ResNet18(options, smallStem),
        "resnet34" => ResNet.ResNet34(options, smallStem),
        "resnet50" => ResNet.ResNet50(options, smallStem),
        "resnet101" => ResNet.ResNet101(options, smallStem),
        "resnet152" => ResNet.ResNet152(options, smallStem),
        "resnet200" => ResNet.ResNet200(options, smallStem),
        "convnext_atto" => ConvNeXt.Atto(options),
        "convnext_femto" => ConvNeXt.Femto(options),
        "convnext_pico" => ConvNeXt.Pico(options),
        "convnext_nano" => ConvNeXt.Nano(options),
        "convnext_tiny" => ConvNeXt.Tiny(options),
        "convnext_small" => ConvNeXt.Small(options),
        "convnext_base" => ConvNeXt.Base(options),
        "convnext_large" => ConvNeXt.Large(options),
        _ => throw new ArgumentException($"Unknown model '{name}'. Known: {string.Join(", ", Names)}."),
    };
}

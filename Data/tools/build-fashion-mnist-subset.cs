#:project ../Sparkle.Data.csproj
// Rebuilds Data/Resources/fashion-mnist-subset.bin from Debian's dataset-fashion-mnist files.
//   apt-get install dataset-fashion-mnist
//   dotnet run Data/tools/build-fashion-mnist-subset.cs [FASHION_MNIST_DIR] [OUTPUT]
// Selection rule (FashionMnist.BuildSubset): the first 300 train / 100 test images of every class, in file order.
// The test Sparkle.Tests.Data.FashionMnistTests.EmbeddedSubsetEqualsARebuildFromTheDebianFiles checks the result.
using Sparkle.Data;

var dir = args.Length > 0 ? args[0] : FashionMnist.DefaultPath;
var output = args.Length > 1 ? args[1] : Path.Combine(AppContext.GetData("EntryPointFileDirectoryPath") as string ?? ".", "..", "Resources", "fashion-mnist-subset.bin");
using (var f = File.Create(output)) FashionMnist.BuildSubset(dir, f);
Console.WriteLine($"wrote {output}: {new FileInfo(output).Length} bytes");

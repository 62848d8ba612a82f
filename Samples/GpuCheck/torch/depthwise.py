# PyTorch (cuDNN) timings of ConvNeXt-T's 7x7 p3 depthwise convs, for Sparkle's `sparkle-gpucheck depthwise` beside it
# (issue 16): the same shapes (224 px, batch 64: 96@56, 192@28, 384@14, 768@7 channels-last, and 96@56 NCHW), float32,
# forward (with bias), input gradient and weight gradient each alone (aten.convolution_backward with one output mask).
# Usage: python3 depthwise.py [--device cuda|cpu] [--batch 64] [--small]
# Prints per pass: torch dw7x7 C@HW bB cl|nchw PASS median_ms=.. gb_s=..  (bytes: the inputs read once, the output written once)
import argparse, time
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--device", default="cuda")
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--small", action="store_true", help="1/16 of the channels, 1/4 of the side, batch 2 (CPU rehearsal)")
ap.add_argument("--reps", type=int, default=20)
args = ap.parse_args()
dev = torch.device(args.device)
cuda = dev.type == "cuda"
torch.backends.cudnn.benchmark = True
cases = [(96, 56, True), (192, 28, True), (384, 14, True), (768, 7, True), (96, 56, False)]
n = 2 if args.small else args.batch


def timed(fn):
    for _ in range(3):
        fn()
    times = []
    for _ in range(args.reps):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(); fn(); end.record(); torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter(); fn(); times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


for c0, hw0, cl in cases:
    c, hw = (max(6, c0 // 16), max(7, hw0 // 4)) if args.small else (c0, hw0)
    fmt = torch.channels_last if cl else torch.contiguous_format
    x = torch.randn(n, c, hw, hw, device=dev).to(memory_format=fmt)
    dy = torch.randn(n, c, hw, hw, device=dev).to(memory_format=fmt)
    w = torch.randn(c, 1, 7, 7, device=dev) * (2 / 49) ** 0.5
    b = torch.randn(c, device=dev)
    act = 4.0 * n * c * hw * hw
    byt = 2 * act + 4.0 * c * 49
    bw = lambda mask: torch.ops.aten.convolution_backward(dy, x, w, None, [1, 1], [3, 3], [1, 1], False, [0, 0], c, mask)
    passes = [("forward", lambda: F.conv2d(x, w, b, padding=3, groups=c)),
              ("grad_input", lambda: bw([True, False, False])),
              ("grad_weight", lambda: bw([False, True, False]))]
    for name, fn in passes:
        ms = timed(fn)
        print(f"torch dw7x7 {c}@{hw} b{n} {'cl' if cl else 'nchw'} {name} median_ms={ms:.3f} gb_s={byt / ms / 1e6:.0f}", flush=True)

# The official SparK pre-training step (masked-dense algorithm, SPARK.md §1-§5) in plain PyTorch, for timing on the GPU
# machine next to Sparkle's device step (issues 8, 16). A port of shared/refbench/SparkModel.cs + Lamb.cs (TorchSharp), plus
# the official sparse ConvNeXt (SPARK.md §4.2: SparseConv2d, SparseConvNeXtLayerNorm, the block's re-mask).
# Usage: python3 spark_step.py [arch r18|r50|cnxt] [input 96] [batch 32] [reps 5] [width 768] [--tf32 0|1] [--device cuda|cpu]
# Prints one line: torch spark ARCH SIZE bBATCH tf32=T device=D step median_ms=.. min_ms=.. img_s=.. peak_mb=.. reserved_mb=.. loss=..
# Step times: 2 warm-up steps (cuDNN autotuning, allocator), then REPS timed steps, each ended by a device synchronize.
# peak_mb: torch.cuda.max_memory_allocated over the timed steps (the peak is reset after the warm-up, as Sparkle's
# device_peak_mb is), in MiB; reserved_mb: max_memory_reserved over the same steps (the caching allocator's footprint).
import argparse, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("arch", nargs="?", default="r18", choices=["r18", "r50", "cnxt", "resnet18", "resnet50", "convnext_tiny"])
ap.add_argument("input", nargs="?", type=int, default=96)
ap.add_argument("batch", nargs="?", type=int, default=32)
ap.add_argument("reps", nargs="?", type=int, default=5)
ap.add_argument("width", nargs="?", type=int, default=768)
ap.add_argument("--tf32", type=int, choices=[0, 1], default=1,
                help="1: TF32 in cuDNN convolutions and cuBLAS matmuls (cuDNN's default; matmul's default is off, so 1 turns it on); 0: exact FP32")
ap.add_argument("--device", default="cuda", help="cuda (the GPU machine) or cpu (rehearsal at small sizes)")
ap.add_argument("--warmup", type=int, default=2)
args = ap.parse_args()
arch = {"resnet18": "r18", "resnet50": "r50", "convnext_tiny": "cnxt"}.get(args.arch, args.arch)
inp_size, batch, reps, width = args.input, args.batch, args.reps, args.width
dev = torch.device(args.device)
cuda = dev.type == "cuda"
torch.backends.cuda.matmul.allow_tf32 = bool(args.tf32)
torch.backends.cudnn.allow_tf32 = bool(args.tf32)
torch.backends.cudnn.benchmark = True
f = inp_size // 32
len_keep = round(f * f * 0.4)

class Mask:
    def __init__(self, active): self.active, self.cache = active, {}
    def at(self, h):
        if h not in self.cache:
            r = h // self.active.shape[2]
            b = self.active.repeat_interleave(r, 2).repeat_interleave(r, 3) if r > 1 else self.active
            self.cache[h] = (b, b.float())
        return self.cache[h]

class SpConv(nn.Conv2d):   # SparseConv2d: the dense conv, then the output re-masked
    def __init__(self, cin, cout, k, s=1, p=0, groups=1, bias=False, trunc=False):
        super().__init__(cin, cout, k, s, p, groups=groups, bias=bias)
        if trunc: trunc_(self.weight, .02, -2, 2)           # ConvNeXt: trunc_normal(.02), bias 0
        else: nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        if bias: nn.init.zeros_(self.bias)
    def forward(self, x, m): y = super().forward(x); return y * m.at(y.shape[2])[1]

class SpBN(nn.BatchNorm1d):   # the official gather -> BN1d -> scatter
    def forward(self, x, m):
        b = m.at(x.shape[2])[0].squeeze(1)
        bhwc = x.permute(0, 2, 3, 1)
        out = torch.zeros_like(bhwc)
        out[b] = super().forward(bhwc[b])
        return out.permute(0, 3, 1, 2)

class SpLN(nn.LayerNorm):   # SparseConvNeXtLayerNorm (sparse): LN over C at the active positions, zeros elsewhere
    def __init__(self, c, channels_last): super().__init__(c, eps=1e-6); self.cl = channels_last
    def forward(self, x, m):
        bhwc = x if self.cl else x.permute(0, 2, 3, 1)
        ii = m.at(bhwc.shape[1])[0].squeeze(1)
        out = torch.zeros_like(bhwc)
        out[ii] = super().forward(bhwc[ii])
        return out if self.cl else out.permute(0, 3, 1, 2)

def drop_path(x, p, training):
    if p == 0 or not training: return x
    keep = 1 - p
    return x.div(keep) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device) + keep).floor_()

def trunc_(t, std, a, b):
    with torch.no_grad(): return nn.init.trunc_normal_(t, 0, std, a, b)

class Block(nn.Module):
    def __init__(self, cin, planes, stride, dp, bottleneck):
        super().__init__()
        self.dp, self.bottleneck = dp, bottleneck
        cout = planes * 4 if bottleneck else planes
        if bottleneck:
            self.convs = nn.ModuleList([SpConv(cin, planes, 1), SpConv(planes, planes, 3, stride, 1), SpConv(planes, cout, 1)])
        else:
            self.convs = nn.ModuleList([SpConv(cin, planes, 3, stride, 1), SpConv(planes, planes, 3, 1, 1)])
        self.bns = nn.ModuleList([SpBN(c) for c in ([planes, planes, cout] if bottleneck else [planes, planes])])
        nn.init.zeros_(self.bns[-1].weight)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.ModuleList([SpConv(cin, cout, 1, stride), SpBN(cout)])
    def forward(self, x, m):
        o = x
        for i, (c, b) in enumerate(zip(self.convs, self.bns)):
            o = b(c(o, m), m)
            if i < len(self.convs) - 1: o = o.relu()
        o = drop_path(o, self.dp, self.training)
        sc = x if self.down is None else self.down[1](self.down[0](x, m), m)
        return (o + sc).relu()

class CnxBlock(nn.Module):   # the official ConvNeXt block in sparse mode (SPARK.md §4.2, steps 1-11)
    def __init__(self, dim, dp):
        super().__init__()
        self.dp = dp
        self.dwconv = SpConv(dim, dim, 7, 1, 3, groups=dim, bias=True, trunc=True)
        self.norm = SpLN(dim, True)
        self.pwconv1, self.pwconv2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        for l in (self.pwconv1, self.pwconv2): trunc_(l.weight, .02, -2, 2); nn.init.zeros_(l.bias)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))
    def forward(self, x, m):
        y = self.dwconv(x, m).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y, m)))) * self.gamma
        y = y.permute(0, 3, 1, 2) * m.at(x.shape[2])[1]      # the re-mask: the Linear biases made masked sites non-zero
        return x + drop_path(y, self.dp, self.training)

class ConvNeXtEncoder(nn.Module):   # ConvNeXt-T: depths 3,3,9,3, dims 96..768, 4x4/4 stem, drop path linspace(0, 0.1)
    def __init__(self, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), dp=0.1):
        super().__init__()
        self.chs = list(dims)
        self.down = nn.ModuleList([nn.ModuleList([SpConv(3, dims[0], 4, 4, bias=True, trunc=True), SpLN(dims[0], False)])])
        for i in range(1, 4):
            self.down.append(nn.ModuleList([SpLN(dims[i - 1], False), SpConv(dims[i - 1], dims[i], 2, 2, bias=True, trunc=True)]))
        rates, j = torch.linspace(0, dp, sum(depths)).tolist(), 0
        self.stages = nn.ModuleList()
        for i in range(4):
            self.stages.append(nn.ModuleList([CnxBlock(dims[i], rates[j + k]) for k in range(depths[i])])); j += depths[i]
    def forward(self, x, m):
        feats = []
        for i in range(4):
            for layer in self.down[i]: x = layer(x, m)
            for blk in self.stages[i]: x = blk(x, m)
            feats.append(x)
        return feats

class Encoder(nn.Module):
    def __init__(self, arch):
        super().__init__()
        bottleneck = arch == "r50"
        depths = [3, 4, 6, 3] if bottleneck else [2, 2, 2, 2]
        dp = 0.05 if bottleneck else 0.0
        self.conv1, self.bn1 = SpConv(3, 64, 7, 2, 3), SpBN(64)
        total, j, cin, self.chs, self.layers = sum(depths), 0, 64, [], nn.ModuleList()
        for s, planes in enumerate([64, 128, 256, 512]):
            layer = nn.ModuleList()
            for b in range(depths[s]):
                layer.append(Block(cin, planes, 2 if b == 0 and s > 0 else 1, dp * j / (total - 1), bottleneck))
                cin = planes * 4 if bottleneck else planes
                j += 1
            self.layers.append(layer); self.chs.append(cin)
    def forward(self, x, m):
        x = self.bn1(self.conv1(x, m), m).relu()
        x = F.max_pool2d(x, 3, 2, 1); x = x * m.at(x.shape[2])[1]
        feats = []
        for layer in self.layers:
            for blk in layer: x = blk(x, m)
            feats.append(x)
        return feats

class UNetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin, 4, 2, 1)
        nn.init.kaiming_normal_(self.up.weight, mode="fan_out", nonlinearity="relu"); nn.init.zeros_(self.up.bias)
        self.conv = nn.Sequential(nn.Conv2d(cin, cin, 3, 1, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(inplace=True),
                                  nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        trunc_(self.conv[0].weight, .02, -2, 2); trunc_(self.conv[3].weight, .02, -2, 2)
    def forward(self, x): return self.conv(self.up(x))

class SparK(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = ConvNeXtEncoder() if arch == "cnxt" else Encoder(arch)
        self.dec = nn.ModuleList([UNetBlock(width >> i, width >> (i + 1)) for i in range(5)])
        self.proj = nn.Conv2d(width >> 5, 3, 1); trunc_(self.proj.weight, .02, -2, 2); nn.init.zeros_(self.proj.bias)
        chs = self.enc.chs[::-1]
        # densify norms: sparse BN for ResNets, sparse channels-first LN for ConvNeXt (SPARK.md §4.4)
        self.norms = nn.ModuleList([SpLN(e, False) if arch == "cnxt" else SpBN(e) for e in chs])
        self.tokens = nn.ParameterList([nn.Parameter(trunc_(torch.empty(1, e, 1, 1), .02, -.02, .02)) for e in chs])
        self.projs = nn.ModuleList([nn.Identity() if i == 0 and e == width else nn.Conv2d(e, width >> i, 1 if i == 0 else 3, 1, 0 if i == 0 else 1)
                                    for i, e in enumerate(chs)])
    def loss(self, inp):
        b = inp.shape[0]
        idx = torch.rand(b, f * f, device=inp.device).argsort(1)[:, :len_keep]
        active = torch.zeros(b, f * f, dtype=torch.bool, device=inp.device).scatter_(1, idx, True).view(b, 1, f, f)
        m = Mask(active)
        feats = self.enc(inp * m.at(inp.shape[2])[1], m)[::-1]
        x = None
        for i in range(5):
            if i < 4:
                t = self.norms[i](feats[i], m)
                t = torch.where(m.at(t.shape[2])[0].expand_as(t), t, self.tokens[i].expand_as(t))
                t = self.projs[i](t)
                x = t if x is None else x + t
            x = self.dec[i](x)
        rec = self.proj(x)
        def patchify(y): return y.reshape(b, 3, f, 32, f, 32).permute(0, 2, 4, 3, 5, 1).reshape(b, f * f, 3072)
        tgt = patchify(inp)
        tgt = (tgt - tgt.mean(-1, keepdim=True)) / (tgt.var(-1, unbiased=True, keepdim=True) + 1e-6).sqrt()
        l2 = (patchify(rec) - tgt).square().mean(2)
        non = active.logical_not().int().view(b, -1)
        return (l2 * non).sum() / (non.sum() + 1e-8)

class Lamb:
    def __init__(self, model, lr, wd, beta2=0.95, eps=1e-6, max_norm=5.0):
        decay, nodecay = [], []
        for n, p in model.named_parameters():
            (nodecay if p.ndim == 1 or n.endswith(".bias") or any(k in n for k in ["cls_token", "pos_embed", "mask_token", "gamma", "tokens"]) else decay).append(p)
        self.groups = [dict(params=decay, wd=wd, step=0), dict(params=nodecay, wd=0.0, step=0)]
        self.state = {p: (torch.zeros_like(p), torch.zeros_like(p)) for g in self.groups for p in g["params"]}
        self.lr, self.b2, self.eps, self.max_norm = lr, beta2, eps, max_norm
    @torch.no_grad()
    def step(self):
        ps = [p for g in self.groups for p in g["params"] if p.grad is not None]
        gnorm = torch.sqrt(sum(p.grad.square().sum() for p in ps))
        clip = torch.where(gnorm > self.max_norm, gnorm / self.max_norm, torch.ones_like(gnorm))
        for g in self.groups:
            g["step"] += 1
            bc1, bc2 = 1 - 0.9 ** g["step"], 1 - self.b2 ** g["step"]
            for p in g["params"]:
                if p.grad is None: continue
                gr = p.grad / clip
                m, v = self.state[p]
                m.mul_(0.9).add_(gr, alpha=0.1); v.mul_(self.b2).addcmul_(gr, gr, value=1 - self.b2)
                upd = (m / bc1) / (v.sqrt() / math.sqrt(bc2) + self.eps)
                if g["wd"] != 0:
                    upd.add_(p, alpha=g["wd"])
                    wn, un = p.norm(), upd.norm()
                    upd.mul_(torch.where((wn > 0) & (un > 0), wn / un, torch.ones_like(wn)))
                p.add_(upd, alpha=-self.lr)

torch.manual_seed(0)
model = SparK().to(dev).train()
opt = Lamb(model, 2e-4 * batch / 256, 0.04, beta2=0.999 if arch == "cnxt" else 0.95)
x = torch.randn(batch, 3, inp_size, inp_size, device=dev)
def step():
    loss = model.loss(x)
    for p in model.parameters(): p.grad = None
    loss.backward(); opt.step()
    return loss
def sync():
    if cuda: torch.cuda.synchronize()
for _ in range(args.warmup): step()
sync()
if cuda: torch.cuda.reset_peak_memory_stats()
times = []
for _ in range(reps):
    t0 = time.perf_counter(); l = step(); sync(); times.append((time.perf_counter() - t0) * 1000)
times.sort()
med = times[len(times) // 2]
peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0
reserved = torch.cuda.max_memory_reserved() / 2**20 if cuda else 0
name = torch.cuda.get_device_name().replace(" ", "_") if cuda else "cpu"
print(f"torch spark {arch} {inp_size} b{batch} tf32={args.tf32} device={args.device} step median_ms={med:.1f} min_ms={times[0]:.1f} "
      f"img_s={batch / med * 1000:.2f} peak_mb={peak:.0f} reserved_mb={reserved:.0f} loss={l.item():.4f} torch={torch.__version__} gpu={name}")

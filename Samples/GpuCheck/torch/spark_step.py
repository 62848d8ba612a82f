# The official SparK pre-training step (masked-dense algorithm, SPARK.md §1-§5) in plain PyTorch, for timing on the GPU
# machine next to Sparkle's device step (issue 8). A port of shared/refbench/SparkModel.cs + Lamb.cs (TorchSharp).
# Usage: python3 spark_step.py [arch r18|r50] [input 96] [batch 32] [reps 5] [width 768]
import math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

arch = sys.argv[1] if len(sys.argv) > 1 else "r18"
inp_size = int(sys.argv[2]) if len(sys.argv) > 2 else 96
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 32
reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
width = int(sys.argv[5]) if len(sys.argv) > 5 else 768
dev = torch.device("cuda")
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

class SpConv(nn.Conv2d):
    def __init__(self, cin, cout, k, s=1, p=0):
        super().__init__(cin, cout, k, s, p, bias=False)
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
    def forward(self, x, m): y = super().forward(x); return y * m.at(y.shape[2])[1]

class SpBN(nn.BatchNorm1d):   # the official gather -> BN1d -> scatter
    def forward(self, x, m):
        b = m.at(x.shape[2])[0].squeeze(1)
        bhwc = x.permute(0, 2, 3, 1)
        out = torch.zeros_like(bhwc)
        out[b] = super().forward(bhwc[b])
        return out.permute(0, 3, 1, 2)

def drop_path(x, p, training):
    if p == 0 or not training: return x
    keep = 1 - p
    return x.div(keep) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device) + keep).floor_()

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

def trunc_(t, std, a, b):
    with torch.no_grad(): return nn.init.trunc_normal_(t, 0, std, a, b)

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
        self.enc = Encoder(arch)
        self.dec = nn.ModuleList([UNetBlock(width >> i, width >> (i + 1)) for i in range(5)])
        self.proj = nn.Conv2d(width >> 5, 3, 1); trunc_(self.proj.weight, .02, -2, 2); nn.init.zeros_(self.proj.bias)
        chs = self.enc.chs[::-1]
        self.norms = nn.ModuleList([SpBN(e) for e in chs])
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
opt = Lamb(model, 2e-4 * batch / 256, 0.04)
x = torch.randn(batch, 3, inp_size, inp_size, device=dev)
def step():
    loss = model.loss(x)
    for p in model.parameters(): p.grad = None
    loss.backward(); opt.step()
    return loss
for _ in range(2): step()
torch.cuda.synchronize()
times = []
for _ in range(reps):
    t0 = time.perf_counter(); l = step(); torch.cuda.synchronize(); times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(f"torch spark {arch} {inp_size} b{batch} step median_ms={times[len(times) // 2]:.1f} min_ms={times[0]:.1f} loss={l.item():.4f} torch={torch.__version__} gpu={torch.cuda.get_device_name()}")

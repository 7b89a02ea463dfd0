"""Held-out DSM loss per sigma for saved checkpoints (same x0, eps for all): checks whether a recipe that
up-weights small sigma gives up accuracy at large sigma. Prints, per sigma, the sigma^2-weighted DSM loss
(per-site mean, antithetic pairs, K draws) and, relative to the first checkpoint, the difference divided
by sigma^2 = difference of E|s_theta - s_sigma|^2 per site (exact by the DSM identity, up to sampling)."""
import sys, torch
torch.set_num_threads(1)
from fdlf_core import teachers
from fdlf_core.models import LocalCNN
fam, blocks = sys.argv[1], int(sys.argv[2]); specs = sys.argv[3:]   # path:key
t = teachers.make(fam, 0)
g = torch.Generator().manual_seed(4242)
x0 = t.sample(16, 32, generator=g).float()
sigmas = [0.005, 0.01, 0.03, 0.1, 0.3, 1.0]
K = 4
eps = [torch.randn(x0.shape, generator=g) for _ in range(K * len(sigmas))]
res = {}
for spec in specs:
    path, key = spec.rsplit(":", 1)
    m = LocalCNN(blocks, 32); m.load_state_dict(torch.load(path)[key]); m.eval()
    out = []
    with torch.no_grad():
        for i, s in enumerate(sigmas):
            sg = torch.full((32,), s)
            tot = 0.0
            for k in range(K):
                e = eps[i * K + k]
                xx = torch.cat([x0 + s * e, x0 - s * e]); ee = torch.cat([e, -e])
                tot += float(((s * m.score(xx, sg) + ee) ** 2).mean())
            out.append(tot / K)
    res[spec] = out
ref = res[specs[0]]
print("sigma:", sigmas)
for spec, out in res.items():
    print(spec.split("/")[-1][:60], " loss:", " ".join(f"{v:.5f}" for v in out))
    print(" " * 10, "d E|s-s_sig|^2 vs first:", " ".join(f"{(v - r) / s**2:+.4f}" for v, r, s in zip(out, ref, sigmas)))

"""Gradient signal-to-noise of the sigma^2-weighted DSM loss per sigma, plain vs antithetic, for a given checkpoint.

For a fixed batch of 8 teacher samples (L=32) and each sigma, K eps draws give per-batch gradients g_k.
Reports: |mean g| (noise-corrected), per-batch noise rms, SNR, and the mean cosine of a single-batch gradient
with the 'oracle' direction grad_theta mean|s(x0, sigma) - s0(x0)|^2 (exact teacher score; diagnostic only)."""
import sys, torch, math
torch.set_num_threads(1)
from fdlf_core import teachers
from fdlf_core.models import LocalCNN
fam, blocks, ck, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "raw"
t = teachers.make(fam, 0)
m = LocalCNN(blocks, 32); m.load_state_dict(torch.load(ck)[key]); m.eval()
params = list(m.parameters())
g = torch.Generator().manual_seed(123)
x0d = t.sample(8, 32, generator=g); s0 = t.score(x0d).float(); x0 = x0d.float()
def flat(loss):
    gr = torch.autograd.grad(loss, params); return torch.cat([q.reshape(-1) for q in gr])
K = 24
print(f"{'sigma':>7} {'mode':>5} {'|E g|':>10} {'noise':>10} {'SNR':>7} {'cos(g,oracle)':>13} {'cos(Eg,orac)':>12}")
for sigma in [0.005, 0.01, 0.03, 0.1, 0.3, 1.0]:
    sg = torch.full((8,), sigma)
    gor = flat(((m.score(x0, sg) - s0) ** 2).mean())
    for mode in ["plain", "anti"]:
        gs = []
        for k in range(K):
            eps = torch.randn(x0.shape, generator=g)
            if mode == "plain":
                loss = ((sigma * m.score(x0 + sigma * eps, sg) + eps) ** 2).mean()
            else:
                xx = torch.cat([x0 + sigma * eps, x0 - sigma * eps]); ee = torch.cat([eps, -eps])
                loss = ((sigma * m.score(xx, torch.cat([sg, sg])) + ee) ** 2).mean()
            gs.append(flat(loss))
        G = torch.stack(gs); mean = G.mean(0)
        noise2 = ((G - mean) ** 2).sum(1).mean() * K / (K - 1)
        sig2 = max(float((mean ** 2).sum() - noise2 / K), 0.0)
        cos1 = torch.nn.functional.cosine_similarity(G, gor[None], dim=1).mean()
        cosm = torch.nn.functional.cosine_similarity(mean, gor, dim=0)
        print(f"{sigma:7.3f} {mode:>5} {math.sqrt(sig2):10.3e} {math.sqrt(noise2):10.3e} {math.sqrt(sig2/noise2):7.3f} {float(cos1):13.3f} {float(cosm):12.3f}")

import json, sys, torch
torch.set_num_threads(1)
from fdlf_core import teachers
fam = sys.argv[1]; ov = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
t = teachers.make(fam, **ov)
out = {"family": fam, "overrides": ov}
for L in (16, 32, 64):
    x = t.sample(8, L, generator=torch.Generator().manual_seed(10000)); s = t.score(x)
    P = torch.fft.fft2(s).abs() ** 2 / L ** 2          # per-mode power, sums to sum s^2
    tot = P.sum()
    k = torch.fft.fftfreq(L) * L                        # integer wavenumbers
    kk = torch.minimum(k.abs(), L - k.abs())
    ky, kx = kk[:, None], kk[None, :]
    # distance to k=0 and to staggered (L/2, L/2) in units of 2pi/L; "long wavelength" = within L/8 of either
    d0 = torch.maximum(ky, kx); ds = torch.maximum((L / 2 - ky).abs(), (L / 2 - kx).abs())
    out[f"k0_{L}"] = round(float(P[:, 0, 0].sum() / tot), 4)
    out[f"kstag_{L}"] = round(float(P[:, L // 2, L // 2].sum() / tot), 4)
    out[f"near0_{L}"] = round(float(P[:, d0 <= L / 16].sum() / tot), 4)      # |k| <= 2pi/16
    out[f"nearstag_{L}"] = round(float(P[:, ds <= L / 16].sum() / tot), 4)
print(json.dumps(out))

"""The type channel: labels only where there are ports, an invertible type flow, exact log P(a | b)."""
import itertools
import math

import pytest
import torch

from fdlf_core.hardvalid import labels, ports

CHANNEL = labels.make_type_channel(K=4, depth=2, seed=1)
LOGITS = torch.randn(37, generator=torch.Generator().manual_seed(3), dtype=torch.float64)


def _all_labelings(b):
    """Every label configuration of ``b`` (one configuration) with labels 1..K on its occupied sites."""
    sites = ports.occupied(b)[0].nonzero().tolist()
    for labs in itertools.product(range(1, CHANNEL.K + 1), repeat=len(sites)):
        a = torch.zeros_like(b)
        for site, lab in zip(sites, labs):
            a[(0, *site)] = lab
        yield a


def test_motifs_name_each_sites_ports():
    b = torch.zeros(1, 2, 2, 2, dtype=torch.int64)
    b[0, 0, 0, 0] = (1 << 0) | (1 << 2)   # +x and +y: a bend in the (0, 1) plane
    b[0, 1, 0, 0] = 1 << 1                # -x: an end along x
    b[0, 0, 1, 0] = 1 << 3                # -y: an end along y
    m = labels.motifs(b)[0]
    assert (int(m[0, 0, 0]), int(m[1, 0, 0]), int(m[0, 1, 0]), int(m[1, 1, 1])) == (3 + 1, 0, 1, -1)
    straight = torch.zeros(1, 4, 4, 4, dtype=torch.int64)
    straight[0, 1, 1, 1], straight[0, 0, 1, 1], straight[0, 2, 1, 1] = 0b11, 1 << 0, 1 << 1
    assert int(labels.motifs(straight)[0, 1, 1, 1]) == 3 + 0  # two ports on axis 0: the (0, 0) motif


@pytest.mark.parametrize("pattern", [0, 5, 13, 36])
def test_one_block_enumerated_sums_to_one(pattern):
    b = ports.pattern_library()[pattern][None]
    total = sum(math.exp(float(labels.log_prob_labels(CHANNEL, a, b))) for a in _all_labelings(b))
    assert total == pytest.approx(1.0, abs=1e-12)


def test_normalised_across_shifted_blocks():
    """Two neighbouring base blocks, each with one edge: 4 occupied sites, 4^4 labelings. The flow's odd
    layer tiles the box with shifted blocks that straddle both, so this checks the bijection across them."""
    lib = ports.pattern_library()
    b = torch.zeros(1, 4, 4, 4, dtype=torch.int64)
    b[0, 0:2, 0:2, 0:2] = lib[1]
    b[0, 2:4, 0:2, 0:2] = lib[4]
    total = sum(math.exp(float(labels.log_prob_labels(CHANNEL, a, b))) for a in _all_labelings(b))
    assert total == pytest.approx(1.0, abs=1e-12)


def test_the_type_flow_is_a_bijection_given_the_ports():
    lib = ports.pattern_library()
    b = torch.zeros(1, 4, 4, 4, dtype=torch.int64)
    b[0, 0:2, 0:2, 0:2], b[0, 2:4, 2:4, 0:2] = lib[13], lib[3]  # a path and an edge: 5 occupied sites
    images = set()
    for a0 in _all_labelings(b):
        a = labels.flow(CHANNEL, a0, b)
        assert torch.equal(labels.flow(CHANNEL, a, b, inverse=True), a0)
        assert torch.equal(a == 0, b == 0)
        images.add(tuple(a.flatten().tolist()))
    assert len(images) == CHANNEL.K ** int(ports.occupied(b).sum())  # onto: no two labelings collide
    assert CHANNEL.depth == 2 and any(
        not torch.equal(labels.flow(CHANNEL, a0, b), a0) for a0 in itertools.islice(_all_labelings(b), 5))


def test_sampled_labels_match_the_exact_probabilities():
    """One block with a two-edge path (3 occupied sites, 64 labelings): 20000 samples against exp(log P)."""
    b = ports.pattern_library()[20][None].expand(20000, -1, -1, -1).contiguous()
    a = labels.sample_labels(CHANNEL, b, generator=torch.Generator().manual_seed(5))
    occ = ports.occupied(b[:1])[0]
    codes = ((a[:, occ] - 1) * torch.tensor([16, 4, 1])).sum(1)
    counts = torch.bincount(codes, minlength=64).double()
    exact = torch.tensor([math.exp(float(labels.log_prob_labels(CHANNEL, x, b[:1])))
                          for x in _all_labelings(b[:1])], dtype=torch.float64)
    expect = counts.sum() * exact
    chi2 = float(((counts - expect) ** 2 / expect).sum())
    assert chi2 < 120  # 63 dof: P(chi2 > 120) ~ 2e-5


def test_labels_are_zero_exactly_on_empty_sites_at_every_size():
    for L in (2, 4, 8):
        b = ports.sample_ports(LOGITS, 20, L, generator=torch.Generator().manual_seed(L))
        a = labels.sample_labels(CHANNEL, b, generator=torch.Generator().manual_seed(L + 1))
        assert torch.equal(a == 0, b == 0) and int(a.max()) <= CHANNEL.K
        assert torch.isfinite(labels.log_prob_labels(CHANNEL, a, b)).all()


def test_bad_labels_and_settings_are_named():
    b = ports.pattern_library()[13][None]
    a = next(_all_labelings(b))
    with pytest.raises(ValueError, match="a must be 0 on empty sites"):
        labels.log_prob_labels(CHANNEL, a + 1, b)
    bad = a.clone()
    bad[ports.occupied(b)] = 5
    with pytest.raises(ValueError, match=r"a must be in 1..4 on occupied sites"):
        labels.log_prob_labels(CHANNEL, bad, b)
    with pytest.raises(ValueError, match="a must have the shape of the ports"):
        labels.log_prob_labels(CHANNEL, a[:, :1], b)
    with pytest.raises(TypeError, match="integer torch.Tensor"):
        labels.log_prob_labels(CHANNEL, a.double(), b)
    with pytest.raises(ValueError, match="K must be"):
        labels.make_type_channel(K=1)

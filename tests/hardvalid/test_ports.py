"""The hard-valid port layer: every sample valid, exact block probabilities, clear errors for bad input."""
import math

import pytest
import torch

from fdlf_core.hardvalid import ports

LOGITS = torch.randn(37, generator=torch.Generator().manual_seed(3), dtype=torch.float64)


def test_the_library_has_the_empty_block_12_edges_and_24_two_edge_paths():
    lib = ports.pattern_library()
    assert lib.shape == (37, 2, 2, 2) and len({tuple(p.flatten().tolist()) for p in lib}) == 37
    edges = ports.degree(lib).flatten(1).sum(1) // 2
    assert edges.tolist() == [0] + [1] * 12 + [2] * 24
    assert ports.port_violations(lib).tolist() == [0] * 37  # each pattern valid as a 2^3 box on its own
    paths = ports.degree(lib[13:])
    assert ((paths == 2).flatten(1).sum(1) == 1).all() and ((paths == 1).flatten(1).sum(1) == 2).all()


@pytest.mark.parametrize("L", [2, 4, 6, 8, 12])
def test_every_sample_is_valid(L):
    b = ports.sample_ports(LOGITS, max(1, 4000 // L ** 2), L, generator=torch.Generator().manual_seed(L))
    assert b.shape[1:] == (L, L, L)
    assert ports.port_violations(b).sum() == 0
    assert torch.isfinite(ports.log_prob_ports(LOGITS, b)).all()
    assert ports.occupied(b).any()


def test_every_configuration_of_one_block_enumerated_sums_to_one():
    """All 2^12 edge subsets of a 2x2x2 box: the model gives the library patterns their softmax weight and
    every other configuration (three edges, degree 3, two disjoint edges) probability zero."""
    edges = ports._block_edges()
    sites = ports._block_sites()
    total, in_support = 0.0, 0
    for mask in range(2 ** len(edges)):
        b = torch.zeros(1, 2, 2, 2, dtype=torch.int64)
        for e in range(len(edges)):
            if mask >> e & 1:
                i, j, k = edges[e]
                b[(0, *sites[i])] |= 1 << k
                b[(0, *sites[j])] |= 1 << ports.OPPOSITE[k]
        if ports.degree(b).max() > 2:
            with pytest.raises(ValueError, match="not a valid port configuration"):
                ports.log_prob_ports(LOGITS, b)
            continue
        logp = float(ports.log_prob_ports(LOGITS, b))
        if logp > -math.inf:
            in_support += 1
            total += math.exp(logp)
    assert in_support == 37 and total == pytest.approx(1.0, abs=1e-12)


def test_log_prob_is_the_product_over_blocks_and_matches_sampled_frequencies():
    b = ports.sample_ports(LOGITS, 3, 4, generator=torch.Generator().manual_seed(1))
    index = ports.block_patterns(b)
    assert (index >= 0).all()
    expected = torch.log_softmax(LOGITS, 0)[index].flatten(1).sum(1)
    assert torch.allclose(ports.log_prob_ports(LOGITS, b), expected, rtol=0, atol=1e-12)
    # frequencies of the 37 patterns over 40000 blocks against softmax(logits): chi-square, 36 dof
    draws = ports.block_patterns(ports.sample_ports(LOGITS, 5000, 4, generator=torch.Generator().manual_seed(2)))
    counts = torch.bincount(draws.flatten(), minlength=37).double()
    expect = counts.sum() * torch.softmax(LOGITS, 0)
    chi2 = float(((counts - expect) ** 2 / expect).sum())
    assert chi2 < 75  # P(chi2_36 > 75) ~ 2e-4


def test_an_edge_across_blocks_is_valid_but_outside_the_support():
    b = torch.zeros(1, 4, 4, 4, dtype=torch.int64)
    b[0, 1, 0, 0] |= 1 << 0   # +x from x=1 ...
    b[0, 2, 0, 0] |= 1 << 1   # ... matched by -x at x=2: valid, but it crosses the block boundary
    assert ports.port_violations(b).tolist() == [0]
    assert ports.log_prob_ports(LOGITS, b).tolist() == [-math.inf]


@pytest.mark.parametrize("b, message", [
    (torch.zeros(1, 3, 3, 3, dtype=torch.int64), "even"),
    (torch.zeros(1, 2, 2, 4, dtype=torch.int64), "shape"),
    (torch.zeros(1, 2, 2, 2), "integer tensor"),
    ("ports", "torch.Tensor"),
])
def test_bad_port_input_is_named(b, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ports.check_ports(b)


@pytest.mark.parametrize("fix", ["unmatched", "boundary", "degree", "bits"])
def test_invalid_configurations_are_refused(fix):
    b = torch.zeros(1, 4, 4, 4, dtype=torch.int64)
    if fix == "unmatched":
        b[0, 0, 0, 0] = 1 << 0                      # +x with no -x at (1, 0, 0)
    elif fix == "boundary":
        b[0, 0, 1, 1] = 1 << 1                      # -x at x = 0 faces the boundary
    elif fix == "degree":
        b[0, 1, 1, 1] = 0b010101                    # three ports
        for k, site in ((1, (2, 1, 1)), (3, (1, 2, 1)), (5, (1, 1, 2))):
            b[(0, *site)] = 1 << k
    else:
        b[0, 1, 1, 1] = 1 << 6
    assert ports.port_violations(b).tolist()[0] > 0
    with pytest.raises(ValueError, match="b is not a valid port configuration"):
        ports.log_prob_ports(LOGITS, b)


def test_bad_sizes_and_logits_are_named():
    with pytest.raises(ValueError, match="L must be even"):
        ports.sample_ports(LOGITS, 1, 5)
    with pytest.raises(ValueError, match="L must be an int >= 2"):
        ports.sample_ports(LOGITS, 1, 0)
    with pytest.raises(ValueError, match=r"logits must be a tensor of shape \(37,\)"):
        ports.sample_ports(torch.zeros(5), 1, 2)
    with pytest.raises(ValueError, match="n must be"):
        ports.sample_ports(LOGITS, 0, 2)

"""lattice: distances, parity, offset sets on the torus (references: brute-force enumeration)."""
import itertools
import re

import pytest
import torch

from fdlf_core import lattice, teachers
from fdlf_core.models import LocalCNN


def brute_distance(L, a, b):
    dr = min((a[0] - b[0]) % L, (b[0] - a[0]) % L)
    dc = min((a[1] - b[1]) % L, (b[1] - a[1]) % L)
    return max(dr, dc)


@pytest.mark.parametrize("L,site", [(4, (0, 0)), (6, (5, 2)), (10, (3, 9))])
def test_distance_map_matches_brute_force(L, site):
    d = lattice.distance_map(L, site)
    for r, c in itertools.product(range(L), range(L)):
        assert d[r, c] == brute_distance(L, site, (r, c))


@pytest.mark.parametrize("L,cutoff", [(4, 1), (4, 8), (6, 2), (6, 3), (16, 8), (20, 5)])
@pytest.mark.parametrize("odd_only", [False, True])
def test_neighbour_offsets_are_the_distinct_torus_sites(L, cutoff, odd_only):
    # Reference: every site j != 0 of the torus with 0 < dist(0, j) <= cutoff, counted once.
    expected = set()
    for r, c in itertools.product(range(L), range(L)):
        dist = brute_distance(L, (0, 0), (r, c))
        if 0 < dist <= cutoff and (not odd_only or (r + c) % 2):
            expected.add((r, c, dist))
    got = lattice.neighbour_offsets(L, cutoff, odd_only=odd_only)
    assert len(got) == len(expected)
    assert {(dy % L, dx % L, d) for dy, dx, d in got} == expected


def test_parity_masks_partition_the_lattice():
    even, odd = lattice.parity_mask(6, 0), lattice.parity_mask(6, 1)
    assert (even ^ odd).all() and even.sum() == odd.sum() == 18
    assert even[0, 0] and odd[0, 1] and even[5, 5]


@pytest.mark.parametrize("L,err", [(5, ValueError), (2, ValueError), (0, ValueError), (-4, ValueError),
                                   (4.0, TypeError), (True, TypeError), ("8", TypeError)])
def test_check_L_rejects_bad_sizes(L, err):
    with pytest.raises(err, match="L must be"):
        lattice.check_L(L)


def test_check_field_messages():
    with pytest.raises(ValueError, match=r"x must have shape \(n, L, L\)"):
        lattice.check_field(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="finite"):
        lattice.check_field(torch.full((1, 4, 4), float("nan")))
    with pytest.raises(TypeError, match="floating-point"):
        lattice.check_field(torch.zeros(1, 4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="even integer"):
        lattice.check_field(torch.zeros(1, 5, 5))
    with pytest.raises(ValueError, match="n >= 1"):
        lattice.check_field(torch.zeros(0, 4, 4))


@pytest.mark.parametrize("site", [(4, 0), (0, -1), (1, 2, 3)])
def test_check_site_rejects_outside(site):
    with pytest.raises((ValueError, TypeError), match="site"):
        lattice.check_site(site, 4)


@pytest.mark.parametrize("L", [1, 2, 3, 5, 7])
def test_check_field_without_a_checkerboard_takes_any_size(L):
    x = torch.zeros(2, L, L)
    assert lattice.check_field(x, checkerboard=False) is x  # unchanged, no copy
    with pytest.raises(ValueError, match="even integer"):
        lattice.check_field(x)  # the teachers' check still needs the checkerboard
    with pytest.raises(ValueError, match=f"must be on an L={L + 1} lattice"):
        lattice.check_field(x, L=L + 1, checkerboard=False)
    with pytest.raises(ValueError, match="finite"):
        lattice.check_field(torch.full((1, L, L), float("inf")), checkerboard=False)
    with pytest.raises(ValueError, match=r"shape \(n, L, L\)"):
        lattice.check_field(torch.zeros(1, L, L + 1), checkerboard=False)


def test_check_memory_refuses_what_would_not_fit_and_says_the_limit(monkeypatch):
    monkeypatch.setattr(lattice, "memory_bytes", lambda: 2 ** 30)  # a 1 GiB machine: 512 MiB per computation
    lattice.check_memory(2 ** 20, 512, "fits")
    with pytest.raises(ValueError, match=r"^2 fields of L=4096 needs about 0.5 GiB, more than 50% of this machine's 1 "
                                         r"GiB: at most 1,048,576 sites \(n L\^2\); use a smaller size or count$"):
        lattice.check_memory(2 ** 20 + 1, 512, "2 fields of L=4096")


def test_sizes_beyond_memory_are_refused_before_anything_is_allocated(monkeypatch):
    from fdlf_core import gaussian
    from fdlf_core.ising import sampling, wolff_sample
    monkeypatch.setattr(lattice, "memory_bytes", lambda: 2 ** 30)
    teacher = teachers.make("simple_local")
    teacher.score(teacher.sample(1, 64))  # small sizes still work
    model = LocalCNN(1, 64)
    class Allocated(Exception):
        pass

    def fail(*args, **kwargs):
        raise Allocated("allocated before the check")
    monkeypatch.setattr(torch, "randn", fail)  # teacher and Gaussian sampling
    monkeypatch.setattr(sampling, "_neighbours", fail)  # the Wolff chain's first array
    monkeypatch.setattr(LocalCNN, "score", fail)  # the model's computation after its checks
    for call, what in [(lambda: teacher.sample(2, 2048), "2 field(s) of L=2048 for the simple_local teacher's sample"),
                       (lambda: teacher.score(torch.zeros(8, 512, 512)), "8 field(s) of L=512 for the simple_local "
                                                                          "teacher's score"),
                       (lambda: gaussian.sample(2, 4096, 1.0), "2 Gaussian field(s) of L=4096"),
                       (lambda: wolff_sample(4096, 0.4, 64), "64 Ising sample(s) of L=4096"),
                       (lambda: model(torch.zeros(3, 256, 256), 0.1),
                        "3 field(s) of L=256 through a width-64 LocalCNN")]:
        with pytest.raises(ValueError, match=re.escape(what) + " needs about"):
            call()
    with torch.no_grad():  # without autograd the same model keeps far fewer activations
        with pytest.raises(Allocated):  # it passed the check and got to the computation
            model(torch.zeros(3, 256, 256), 0.1)


@pytest.mark.parametrize("call, message", [
    (lambda: teachers.make("simple_local", pre_depth=10 ** 7), "pre_depth must be an int in [0, 256]"),
    (lambda: teachers.make("simple_local", hidden=10 ** 6), "hidden must be an int in [1, 4096]"),
    (lambda: LocalCNN(width=10 ** 6), "width must be an int in [1, 4096]"),
    (lambda: LocalCNN(blocks=10 ** 4), "blocks must be an int in [0, 256]"),
])
def test_depths_and_widths_have_stated_limits(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_window_fits_until_it_would_read_a_site_twice():
    # a window of 2R + 1 sites on a ring of L: R = 7 (15 sites) fits L = 15 and 16; R = 8 (17 sites) fits neither
    assert lattice.window_fits(7, 15) and lattice.window_fits(7, 16)
    assert not lattice.window_fits(8, 16) and not lattice.window_fits(14, 16) and lattice.window_fits(14, 32)

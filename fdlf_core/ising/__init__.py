"""The critical 2D Ising stress test (paper Section 5): exact results, samplers, smoothed-score responses.

``exact``: enumeration, transfer matrix, infinite-lattice correlations and lengths; ``sampling``: Wolff,
Swendsen-Wang and heat-bath chains, correlation estimates with blocking error bars; ``response``: the
exact smoothed score and posterior covariance on small lattices and the response of Eq. 22 at any size.
"""
from .exact import (BETA_C, IsingExact, correlation_length, enumerate_exact, exact_correlations,
                    infinite_correlation, magnetisation_distribution, nearest_neighbour_correlation,
                    spontaneous_magnetisation, transfer_matrix_exact)
from .response import (learned_response, posterior_covariance, smoothed_log_density, smoothed_score,
                       smoothed_score_response)
from .sampling import (correlation_function, heat_bath_sample, per_sample_correlations, swendsen_wang_sample,
                       wolff_sample)
from .pool import IsingData, IsingPoolConfig, load_pool, random_symmetry, sample_pool

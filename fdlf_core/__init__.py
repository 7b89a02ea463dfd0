"""fdlf core: exact FDLF teachers, local score models, DSM training and extrapolation diagnostics.

Reproduction kit for "When Do Local Score Models Extrapolate Across Size?" (arXiv 2606.09705).
The core imports neither widgets nor notebooks.
"""
__version__ = "0.1.0"

"""The hard-valid mixed discrete-continuous 3D teacher (paper Section 4.2, Appendix B.1): port states,
type labels and a conditional continuous channel on the open cubic lattice, with exact probabilities."""

"""Actors: a K-step flow policy around any velocity network, and a tanh-Gaussian policy."""

"""Sampled constraint losses (the hinge lives below ``verify`` so ``fit_lyapunov`` shares it)."""

from .._hinge import hinge_loss as hinge_loss

__all__ = ["hinge_loss"]

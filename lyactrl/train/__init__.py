"""Training: sampled constraint losses, samplers, the training adapter, LyaNet."""

from ._losses import hinge_loss as hinge_loss

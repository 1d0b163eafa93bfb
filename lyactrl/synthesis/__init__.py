"""Controller synthesis: LQR gains and saturated controllers learned with their certificate."""

from ._controller import SaturatedController as SaturatedController
from ._fit import ControllerFit as ControllerFit
from ._fit import fit_controller as fit_controller
from ._lqr import check_stabilizable as check_stabilizable
from ._lqr import lqr as lqr

__all__ = ["ControllerFit", "SaturatedController", "check_stabilizable", "fit_controller", "lqr"]

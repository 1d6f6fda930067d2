"""ensemble: bootstrap-bagged torch networks, trained in parallel, voting with test-time augmentation."""
from .bagging import BaggedNetClassifier, FitInterrupted, MemberFailedError
from .diagnostics import ErrorDecomposition, error_decomposition
from .voting import vote

__all__ = ["BaggedNetClassifier", "FitInterrupted", "MemberFailedError", "ErrorDecomposition",
           "error_decomposition", "vote"]

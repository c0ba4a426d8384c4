"""Exceptions and warnings shared by every layer (no heavy imports)."""

from __future__ import annotations

__all__ = ["DataError", "DataWarning", "ModelWarning"]


class DataError(ValueError):
    """Invalid trial data or analysis options; the message names the study and the column."""


class DataWarning(UserWarning):
    """Data that are valid but deserve a second look (double-zero studies, odd CIs)."""


class ModelWarning(UserWarning):
    """A model choice that is valid but deserves a second look.

    For example random effects with k = 1, or a prior made for another measure.
    """

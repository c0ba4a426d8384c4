"""bayesmeta: Bayesian evidence synthesis for small evidence bases.

Public API only. Nothing heavy is imported here: pymc, nutpie and matplotlib load
only inside the functions that need them, and most names load on first use.

Examples
--------
>>> import pandas as pd
>>> import bayesmeta
>>> df = pd.DataFrame({"study": ["A", "B"], "events_t": [5, 8], "n_t": [40, 50],
...                    "events_c": [12, 15], "n_c": [40, 50]})
>>> bayesmeta.effect_sizes(df, "OR")["yi"].round(3).tolist()
[-1.099, -0.811]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from bayesmeta import priors  # noqa: E402
from bayesmeta.data import (  # noqa: E402
    DataError,
    DataWarning,
    StudyData,
    effect_sizes,
    read_csv,
    study_data,
)
from bayesmeta.diagnostics import ConvergenceWarning, Diagnostics  # noqa: E402
from bayesmeta.fit import fit, fit_many  # noqa: E402
from bayesmeta.results import MetaResult, load  # noqa: E402

# modules loaded on first use
_LAZY = {
    "datasets": "bayesmeta.datasets",
    "classical": "bayesmeta.classical",
    "plots": "bayesmeta.plots",
}

__all__ = [
    "ConvergenceWarning",
    "DataError",
    "DataWarning",
    "Diagnostics",
    "MetaResult",
    "StudyData",
    "__version__",
    "classical",
    "datasets",
    "effect_sizes",
    "fit",
    "fit_many",
    "load",
    "plots",
    "priors",
    "read_csv",
    "study_data",
]

if TYPE_CHECKING:  # pragma: no cover
    from bayesmeta import classical, datasets, plots


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'bayesmeta' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

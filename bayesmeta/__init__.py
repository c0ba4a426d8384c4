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

from bayesmeta.data import DataError, DataWarning, StudyData, effect_sizes, read_csv, study_data

__version__ = "0.1.0"

_LAZY = {
    "fit": "bayesmeta.fit",
    "fit_many": "bayesmeta.fit",
    "MetaResult": "bayesmeta.results",
    "load": "bayesmeta.results",
    "ConvergenceWarning": "bayesmeta.diagnostics",
    "Diagnostics": "bayesmeta.diagnostics",
    "priors": "bayesmeta.priors",
    "datasets": "bayesmeta.datasets",
    "classical": "bayesmeta.classical",
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
    "priors",
    "read_csv",
    "study_data",
]

if TYPE_CHECKING:  # pragma: no cover
    from bayesmeta import classical, datasets, priors
    from bayesmeta.diagnostics import ConvergenceWarning, Diagnostics
    from bayesmeta.fit import fit, fit_many
    from bayesmeta.results import MetaResult, load


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = module if module.__name__.endswith(name) else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bayesmeta' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

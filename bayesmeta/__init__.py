"""bayesmeta: Bayesian evidence synthesis for small evidence bases.

Public API only. Nothing heavy is imported here: every name loads on first use, so
``bayesmeta --help`` starts without pandas, scipy or PyMC.

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

__version__ = "0.2.0"

#: public name -> module that defines it (loaded on first use)
_LAZY = {
    "AnalysisSpec": "bayesmeta.spec",
    "SpecError": "bayesmeta.spec",
    "load_spec": "bayesmeta.spec",
    "DataError": "bayesmeta.errors",
    "DataWarning": "bayesmeta.errors",
    "ModelWarning": "bayesmeta.errors",
    "StudyData": "bayesmeta.data",
    "effect_sizes": "bayesmeta.data",
    "read_csv": "bayesmeta.data",
    "study_data": "bayesmeta.data",
    "ConvergenceWarning": "bayesmeta.diagnostics",
    "Diagnostics": "bayesmeta.diagnostics",
    "fit": "bayesmeta.fit",
    "fit_many": "bayesmeta.fit",
    "MetaResult": "bayesmeta.results",
    "load": "bayesmeta.results",
    "Analysis": "bayesmeta.pipeline",
    "run_analysis": "bayesmeta.pipeline",
}
_MODULES = {
    "priors": "bayesmeta.priors",
    "datasets": "bayesmeta.datasets",
    "classical": "bayesmeta.classical",
    "plots": "bayesmeta.plots",
    "engines": "bayesmeta.engines",
}

__all__ = sorted([*_LAZY, *_MODULES, "__version__"])

if TYPE_CHECKING:  # pragma: no cover
    from bayesmeta import classical, datasets, engines, plots, priors
    from bayesmeta.data import StudyData, effect_sizes, read_csv, study_data
    from bayesmeta.diagnostics import ConvergenceWarning, Diagnostics
    from bayesmeta.errors import DataError, DataWarning, ModelWarning
    from bayesmeta.fit import fit, fit_many
    from bayesmeta.pipeline import Analysis, run_analysis
    from bayesmeta.results import MetaResult, load
    from bayesmeta.spec import AnalysisSpec, SpecError, load_spec


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        module = importlib.import_module(_MODULES[name])
        globals()[name] = module
        return module
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bayesmeta' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

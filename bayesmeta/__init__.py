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
import sys
import types
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
    "average": "bayesmeta.averaging",
    "read_review": "bayesmeta.review",
    "fit_network": "bayesmeta.network.fit",
    "network_data": "bayesmeta.network.data",
    "run_review": "bayesmeta.review",
}
_MODULES = {
    "priors": "bayesmeta.priors",
    "datasets": "bayesmeta.datasets",
    "classical": "bayesmeta.classical",
    "plots": "bayesmeta.plots",
    "engines": "bayesmeta.engines",
    "revman": "bayesmeta.revman",
    "network": "bayesmeta.network",
    "sof": "bayesmeta.sof",
}

__all__ = sorted([*_LAZY, *_MODULES, "__version__"])

if TYPE_CHECKING:  # pragma: no cover
    from bayesmeta import classical, datasets, engines, network, plots, priors, revman, sof  # noqa: F401
    from bayesmeta.averaging import average  # noqa: F401
    from bayesmeta.data import StudyData, effect_sizes, read_csv, study_data  # noqa: F401
    from bayesmeta.diagnostics import ConvergenceWarning, Diagnostics  # noqa: F401
    from bayesmeta.errors import DataError, DataWarning, ModelWarning  # noqa: F401
    from bayesmeta.fit import fit, fit_many  # noqa: F401
    from bayesmeta.network.data import network_data  # noqa: F401
    from bayesmeta.network.fit import fit_network  # noqa: F401
    from bayesmeta.pipeline import Analysis, run_analysis  # noqa: F401
    from bayesmeta.results import MetaResult, load  # noqa: F401
    from bayesmeta.review import read_review, run_review  # noqa: F401
    from bayesmeta.spec import AnalysisSpec, SpecError, load_spec  # noqa: F401


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


class _Package(types.ModuleType):
    """Keep ``bayesmeta.fit`` the function when the submodule ``bayesmeta.fit`` is imported.

    Importing a submodule sets it as an attribute of the package, which would replace the
    function of the same name (``from bayesmeta.fit import fit_spec`` and then
    ``bayesmeta.fit(...)`` gave "'module' object is not callable").
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

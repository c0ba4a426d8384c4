"""Design matrices for meta-regression and subgroups, from study-level covariates.

Formulas are parsed by `formulaic <https://matthewwardrop.github.io/formulaic/>`_ (no
parser of our own). Covariates are the extra columns of the data
(:attr:`bayesmeta.StudyData.covariates`). Missing covariate values are an error naming the
study and the column: nothing is dropped.

Examples
--------
>>> import pandas as pd
>>> cov = pd.DataFrame({"ablat": [44.0, 55.0, 42.0], "alloc": ["random", "alternate", "random"]})
>>> d = design_matrix(cov, ["A", "B", "C"], moderators="~ ablat")
>>> d.names, d.X.shape
(('Intercept', 'ablat'), (3, 2))
>>> design_matrix(cov, ["A", "B", "C"], subgroup="alloc").names
('alternate', 'random')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from bayesmeta.errors import DataError

__all__ = ["Design", "design_for", "design_matrix"]


@dataclass(frozen=True, eq=False)
class Design:
    """A design matrix with its column names and what made it.

    Attributes
    ----------
    X : numpy.ndarray
        (k, p) design matrix.
    names : tuple of str
        Column names (``Intercept``, ``ablat``, ``C(alloc)[T.random]``; for subgroups the
        group values).
    formula : str
        The formula used.
    subgroup : str or None
        The subgroup column, when the design is one mean per group.
    groups : tuple of str
        The subgroup of each study (empty without a subgroup).
    """

    X: np.ndarray
    names: tuple[str, ...]
    formula: str
    subgroup: str | None
    groups: tuple[str, ...]
    model_spec: Any

    @property
    def variables(self) -> tuple[str, ...]:
        """Covariate columns the formula uses (the subgroup column for subgroups)."""
        if self.subgroup is not None:
            return (self.subgroup,)
        return tuple(sorted(str(v) for v in self.model_spec.required_variables))

    def rows(self, newdata: Any) -> np.ndarray:
        """Design rows for new covariate values (a DataFrame or dict of columns).

        For a subgroup design, ``newdata`` may also be a list of group values.
        """
        import pandas as pd

        if self.subgroup is not None and not isinstance(newdata, pd.DataFrame | dict):
            values = [str(v) for v in newdata]
            unknown = [v for v in values if v not in self.names]
            if unknown:
                raise DataError(
                    f"unknown subgroup(s) {', '.join(map(repr, unknown))}; groups: "
                    f"{', '.join(self.names)}"
                )
            return np.array([[float(v == g) for g in self.names] for v in values])
        frame = newdata if isinstance(newdata, pd.DataFrame) else pd.DataFrame(newdata)
        if self.subgroup is not None:
            frame = frame.assign(**{self.subgroup: frame[self.subgroup].astype(str)})
        else:
            fast = self._numeric_rows(frame)
            if fast is not None:
                return fast
        try:
            mm = self.model_spec.get_model_matrix(frame, na_action="raise")
        except Exception as exc:  # formulaic raises several error types
            raise DataError(f"newdata does not fit the formula {self.formula!r}: {exc}") from None
        return np.asarray(mm, dtype=float)

    def _numeric_rows(self, frame: Any) -> np.ndarray | None:
        """Build the rows without formulaic when that is provably the same (else None).

        That is when every column is the intercept or a covariate used as it is: the
        column names are ``Intercept`` and exactly the formula's variables, and the new
        values of those are finite numbers (not booleans). Anything else (transforms,
        categories, interactions, missing values) goes through formulaic.
        """
        names = self.names
        used = [n for n in names if n != "Intercept"]
        columns = list(frame.columns)  # plain lists: a fresh Index builds a hash table
        if (
            self.model_spec is None
            or len(set(names)) != len(names)
            or "Intercept" in columns
            or set(used) != {str(v) for v in self.model_spec.required_variables}
            or len(set(columns)) != len(columns)
            or any(name not in columns for name in used)
        ):
            return None
        kinds = [dt.kind for dt in frame.dtypes]  # one Series, not one per column
        where = {name: columns.index(name) for name in used}
        if any(kinds[i] not in "iuf" for i in where.values()):
            return None
        # every column numeric: one array for all (int -> float exactly as per column)
        values = frame.to_numpy(dtype=float) if all(k in "iuf" for k in kinds) else None
        out = np.ones((len(frame), len(names)))
        for j, name in enumerate(names):
            if name == "Intercept":
                continue
            i = where[name]
            v = values[:, i] if values is not None else frame[name].to_numpy(dtype=float)
            if not np.isfinite(v).all():
                return None
            out[:, j] = v
        return out


def design_matrix(
    covariates: Any,
    labels: Sequence[str],
    *,
    moderators: str | Sequence[str] | None = None,
    subgroup: str | None = None,
) -> Design:
    """Build the design matrix for ``moderators`` or ``subgroup``.

    ``moderators`` is a formula or a list of columns; ``subgroup`` gives one mean per group.

    Raises
    ------
    DataError
        Unknown column (the message lists the covariates), a missing value (names the
        study and the column), a design that is not of full column rank, or a subgroup
        with one group only.
    """
    import formulaic

    cov = covariates
    available = [str(c) for c in cov.columns]
    if subgroup is not None:
        if subgroup not in available:
            raise DataError(
                f"subgroup column {subgroup!r} is not in the data; covariates: "
                f"{', '.join(available) or 'none (add a column to the CSV)'}"
            )
        col = cov[subgroup]
        _check_missing(col, subgroup, labels)
        groups = tuple(str(v) for v in col)
        names = tuple(dict.fromkeys(sorted(set(groups))))
        if len(names) < 2:
            raise DataError(f"subgroup column {subgroup!r} has one group only ({names[0]!r})")
        X = np.array([[float(g == n) for n in names] for g in groups])
        formula = f"~ 0 + C({subgroup})"
        return Design(X, names, formula, subgroup, groups, None)
    if moderators is None:
        raise DataError("give moderators (a formula or columns) or a subgroup column")
    if isinstance(moderators, str):
        formula = moderators.strip()
        if not formula.startswith("~"):
            formula = "~ " + formula
    else:
        cols = list(moderators)
        unknown = [c for c in cols if c not in available]
        if unknown:
            raise DataError(
                f"moderator column(s) {', '.join(map(repr, unknown))} not in the data; "
                f"covariates: {', '.join(available) or 'none'}"
            )
        formula = "~ " + " + ".join(f"`{c}`" if not c.isidentifier() else c for c in cols)
    for c in available:
        _check_missing(cov[c], c, labels, only_if_used=formula)
    try:
        mm = formulaic.model_matrix(formula, cov, na_action="raise")
    except Exception as exc:  # formulaic raises several error types
        raise DataError(
            f"moderators {formula!r}: {exc}. Covariates: {', '.join(available) or 'none'}"
        ) from None
    X = np.asarray(mm, dtype=float)
    names = tuple(str(c) for c in mm.columns)
    if X.shape[0] != len(labels):  # pragma: no cover - na_action="raise" keeps every row
        raise DataError("the design matrix lost rows")
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        raise DataError(
            f"moderators {formula!r}: the design matrix ({', '.join(names)}) is not of full "
            f"rank ({rank} < {X.shape[1]}); a coefficient cannot be estimated from these "
            "studies"
        )
    return Design(X, names, formula, None, (), mm.model_spec)


def _check_missing(col: Any, name: str, labels: Sequence[str], only_if_used: str = "") -> None:
    import pandas as pd

    if only_if_used and name not in only_if_used:
        return
    missing = pd.isna(col).to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DataError(f"study '{labels[i]}': covariate column '{name}' is missing")


def design_for(spec: Any, sd: Any) -> Design | None:
    """Return the design of ``spec``'s moderators or subgroup (None without moderators).

    Cached per (moderators, subgroup, data): data are immutable and hashed by identity,
    so every fit of the same data (engine, result, refits with other priors) shares one
    design matrix.
    """
    if spec.moderators is None and spec.subgroup is None:
        return None
    return _cached_design(spec.moderators, spec.subgroup, sd)


@lru_cache(maxsize=64)
def _cached_design(moderators: Any, subgroup: str | None, sd: Any) -> Design:
    return design_matrix(sd.covariates, sd.labels, moderators=moderators, subgroup=subgroup)

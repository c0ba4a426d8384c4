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
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
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
    #: formulaic's model spec, or the covariates to build it from when first needed
    _spec: Any = field(default=None, repr=False)
    _covariates: Any = field(default=None, repr=False)

    @cached_property
    def model_spec(self) -> Any:
        """Return formulaic's ``ModelSpec`` (None for subgroups), built on first use."""
        if self._spec is not None or self._covariates is None:
            return self._spec
        import formulaic

        return formulaic.model_matrix(self.formula, self._covariates, na_action="raise").model_spec

    @property
    def variables(self) -> tuple[str, ...]:
        """Covariate columns the formula uses (the subgroup column for subgroups)."""
        if self.subgroup is not None:
            return (self.subgroup,)
        if self._spec is None:  # intercept + plain numeric columns (see _plain_columns)
            return tuple(sorted(self.names[1:]))
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
            self.subgroup is not None
            or len(set(names)) != len(names)
            or "Intercept" in columns
            or set(used) != set(self.variables)
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
    plain = _plain_columns(formula, cov)
    if plain is not None:  # intercept + numeric columns as they are: formulaic's matrix
        X = np.column_stack([np.ones(len(cov)), *(cov[c].to_numpy(dtype=float) for c in plain)])
        return _full_rank(Design(X, ("Intercept", *plain), formula, None, (), None, cov))
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
    return _full_rank(Design(X, names, formula, None, (), mm.model_spec))


def _full_rank(design: Design) -> Design:
    X = design.X
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        raise DataError(
            f"moderators {design.formula!r}: the design matrix ({', '.join(design.names)}) is "
            f"not of full rank ({rank} < {X.shape[1]}); a coefficient cannot be estimated "
            "from these studies"
        )
    return design


@lru_cache(maxsize=256)
def _terms(formula: str) -> tuple[tuple[tuple[str, str], ...], ...] | None:
    """Parse ``formula`` with formulaic: each term's factors as (expression, how evaluated)."""
    import formulaic

    try:
        parsed = formulaic.Formula(formula)
    except Exception:  # formulaic raises several error types; model_matrix reports them
        return None
    if not isinstance(parsed, formulaic.formula.SimpleFormula):
        return None
    return tuple(tuple((f.expr, f.eval_method.value) for f in t.factors) for t in parsed)


def _plain_columns(formula: str, cov: Any) -> tuple[str, ...] | None:
    """Return the columns of an intercept-plus-main-effects formula on numeric columns.

    Then formulaic's model matrix is an intercept column followed by those columns as
    they are, in the formula's order (checked against formulaic in the tests). None for
    any other formula (transforms, categories, interactions, no intercept).
    """
    terms = _terms(formula)
    if not terms or terms[0] != (("1", "literal"),):
        return None
    kinds = dict(zip(map(str, cov.columns), (dt.kind for dt in cov.dtypes), strict=True))
    cols = []
    for term in terms[1:]:
        if len(term) != 1 or term[0][1] != "lookup" or kinds.get(term[0][0], "?") not in "iuf":
            return None
        cols.append(term[0][0])
    return tuple(cols) if cols and len(set(cols)) == len(cols) else None


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

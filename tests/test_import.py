"""`import bayesmeta` must stay light: no pymc, nutpie, matplotlib, and (issue 9) no pandas or
scipy; PyMC is imported by the NUTS engine only."""

import re
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "bayesmeta"


def _loaded(code: str, names: tuple[str, ...]) -> list[str]:
    code += f"\nimport sys\nprint(','.join(m for m in {names!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    last = out.stdout.rstrip("\n").split("\n")[-1]
    return [m for m in last.split(",") if m]


def test_import_does_not_load_heavy_modules():
    code = "import bayesmeta, bayesmeta.cli, bayesmeta.priors, bayesmeta.data"
    assert _loaded(code, ("pymc", "nutpie", "matplotlib", "pytensor")) == []


def test_import_bayesmeta_loads_neither_pandas_nor_scipy():
    assert _loaded("import bayesmeta, bayesmeta.cli", ("pandas", "scipy", "pymc")) == []


def test_pymc_is_imported_only_inside_the_nuts_engine_and_to_pymc():
    # never at module level; inside functions only in the NUTS engine and in the priors'
    # to_pymc() (PreliZ's pattern, see STYLE.md)
    anywhere = re.compile(r"^\s*(import|from)\s+(pymc|nutpie)\b", re.M)
    top = re.compile(r"^(import|from)\s+(pymc|nutpie)\b", re.M)
    files = {str(p.relative_to(PKG)): p.read_text() for p in PKG.rglob("*.py")}
    assert not [f for f, text in files.items() if top.search(text)]
    assert {f for f, text in files.items() if anywhere.search(text)} <= {
        "engines/nuts.py",
        "engines/nuts_network.py",
        "priors.py",
    }


def test_submodule_import_keeps_the_public_functions():
    # importing the module bayesmeta.fit must not replace the function bayesmeta.fit
    code = (
        "import bayesmeta.fit, bayesmeta.results, bayesmeta\n"
        "assert callable(bayesmeta.fit) and callable(bayesmeta.load), bayesmeta.fit\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

"""`import bayesmeta` must stay light: no pymc, nutpie or matplotlib."""

import subprocess
import sys


def test_import_does_not_load_heavy_modules():
    code = (
        "import sys, bayesmeta, bayesmeta.cli, bayesmeta.priors, bayesmeta.data\n"
        "heavy = [m for m in ('pymc', 'nutpie', 'matplotlib', 'pytensor') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

"""Shared fixtures: reference data stored in the repo (tests never need R or the network)."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest

REF = Path(__file__).parent / "reference"

# An unexpected exception in the CLI is a bug: in the suite it must escape main() (and fail
# the test) instead of becoming the one-line "internal error" users see.
os.environ["BAYESMETA_DEBUG"] = "1"


@pytest.fixture(scope="session")
def metafor_escalc():
    """metafor escalc() values; source block inside the JSON (R call, versions)."""
    return json.loads((REF / "metafor_escalc.json").read_text())


@pytest.fixture(scope="session")
def crins():
    """Crins et al. 2014 (shared/reference/README.md): IL-2RA vs control, acute rejection."""
    return pd.DataFrame(
        {
            "study": [
                "Heffron 2003",
                "Gibelli 2004",
                "Schuller 2005",
                "Ganschow 2005",
                "Spada 2006",
                "Gras 2008",
            ],
            "events_t": [14, 16, 3, 9, 4, 0],
            "n_t": [61, 28, 18, 54, 36, 50],
            "events_c": [15, 19, 8, 29, 11, 3],
            "n_c": [20, 28, 12, 54, 36, 34],
        }
    )

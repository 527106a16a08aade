"""What every notebook's first code cell does, in one call: the config from the `parameters` cell, inline plots,
readable tables, and one line saying which profile and model the notebook runs.

    from descgen.notebook import setup
    cfg = setup(profile, overrides)

`descgen` is importable from any folder once `pip install -r requirements.txt` has run (its last line installs this
repo as a package), and every path resolves from the repo root, so a notebook opened anywhere gives the same result.
"""

from __future__ import annotations

from .config import Config, load


def setup(profile: str, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    import pandas as pd

    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        shell.run_line_magic("matplotlib", "inline")
    pd.set_option("display.max_colwidth", 400)  # descriptions are read whole in the tables
    cfg = load(profile, list(overrides))
    print(f"profile: {cfg.profile}   model: {cfg.model.name}   outputs: {cfg.outputs_dir}")
    return cfg

"""The one compiled part: descgen._scan, prepare's per-line loop (descgen/_c/_scan.c, with xxHash vendored).

`pip install -e .` (the last line of requirements.txt) builds it in place. It is optional: without a C compiler
the install still succeeds and prepare runs its pure-Python loop, which gives the same rows and counts, about
2x slower (docs/benchmarks.md); the prepare report names the scanner that ran.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("descgen._scan", ["descgen/_c/_scan.c"], include_dirs=["descgen/_c"],
                             depends=["descgen/_c/xxhash.h"], optional=True)])

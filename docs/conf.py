"""Sphinx configuration of the airflow-provider-zoho-attach docs.

The build needs no network: no intersphinx, no remote images. Airflow is imported by autodoc, so a
throwaway ``AIRFLOW_HOME`` is set up here, before anything imports it (Airflow would otherwise
create ``~/airflow``).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Always a fresh home: the docs must not depend on (or write to) the builder's Airflow set-up.
_home = tempfile.mkdtemp(prefix="zoho-attach-docs-airflow-home-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _home
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
# Airflow logs its configuration loading on import; keep the build output to warnings.
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"

# Airflow logs how it loads its configuration at INFO level; the build shows warnings only.
logging.getLogger("airflow").setLevel(logging.WARNING)

# The package is installed in editable mode; this also makes a plain checkout build.
sys.path.insert(0, str(ROOT))

from airflow_provider_zoho_attach import __version__  # noqa: E402 - the environment comes first

project = "airflow-provider-zoho-attach"
author = "airflow-provider-zoho-attach developers"
copyright = "the airflow-provider-zoho-attach developers; Apache License 2.0"
version = __version__
release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
language = "en"
nitpicky = False

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "signature"
autodoc_inherit_docstrings = True
autodoc_preserve_defaults = True
autoclass_content = "class"

html_theme = "furo"
html_title = f"Zoho CRM Attachments provider {release}"
html_short_title = "Zoho CRM Attachments"
html_static_path: list[str] = []
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": True,
}

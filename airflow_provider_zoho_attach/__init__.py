"""Apache Airflow provider for Zoho CRM files and attachments.

Importing this package is deliberately cheap: it pulls in neither the HTTP stack nor Airflow's
runtime. Hooks, operators, sensors and triggers live in their sub-packages.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

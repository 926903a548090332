"""
Hypothesis profiles of the property tests.

* ``default`` (what a plain ``pytest`` run and ``make test`` use): a modest number of examples,
  so the whole fuzz suite takes a few seconds.
* ``fuzz`` (``make fuzz``, i.e. ``pytest tests/fuzz --hypothesis-profile=fuzz``): 10,000 examples
  per property.

Re-registering ``default`` changes the active profile at once (Hypothesis starts on ``default``);
a profile chosen with ``--hypothesis-profile`` is left alone. Nothing here calls ``load_profile``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

DEFAULT_EXAMPLES = 150
FUZZ_EXAMPLES = 10_000

settings.register_profile(
    "default",
    max_examples=DEFAULT_EXAMPLES,
    deadline=None,  # a shared, busy machine: no per-example timing failures
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

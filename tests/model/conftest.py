"""
Fixtures and Hypothesis settings of the model-based (stateful) tests.

The sizes follow the Hypothesis profile chosen on the command line, like the property tests in
tests/fuzz: a plain ``pytest`` (``make test``) runs :data:`MODEL_DEFAULT`, ``--hypothesis-profile=fuzz``
(``make fuzz``) runs :data:`MODEL_FUZZ`. They are settings objects of their own (not registered
profiles), so loading this conftest never changes the profile the other tests run under.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import InvalidArgument

from tests.hardening.conftest import (  # noqa: F401 - fixtures, used by name
    _fresh_token_memory,
    make_hook,
)

_COMMON = {
    "deadline": None,  # a shared, busy machine: no per-example timing failures
    "database": None,  # nothing written to .hypothesis/; a failure prints its steps (and a blob in fuzz)
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "report_multiple_bugs": True,
}

#: ``make test``: 60 sequences of up to 15 steps (about 15 s), the same ones on every run (CI must
#: not be flaky).
MODEL_DEFAULT = settings(
    max_examples=60,
    stateful_step_count=15,
    derandomize=True,
    # A failure is shown as generated (still a readable step list); shrinking it would take minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    **_COMMON,
)

#: ``make fuzz``: 2,000 random sequences of up to 20 steps (about 15 min on 2 cores), a
#: failure shrunk to a shorter sequence.
MODEL_FUZZ = settings(
    max_examples=2_000,
    stateful_step_count=20,
    print_blob=True,
    **_COMMON,
)

_BY_PROFILE = {"fuzz": MODEL_FUZZ}

# ``pytest tests/model --hypothesis-profile=fuzz`` without tests/fuzz: the profile must exist. The
# one tests/fuzz/conftest.py registers (loaded first by ``make fuzz``) is left alone.
try:
    settings.get_profile("fuzz")
except InvalidArgument:
    settings.register_profile("fuzz", deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
def model_settings(request: pytest.FixtureRequest) -> settings:
    """The stateful-test settings for the Hypothesis profile of this run."""
    try:
        profile = request.config.getoption("hypothesis_profile")
    except ValueError:  # Hypothesis' pytest plugin is not loaded
        profile = None
    return _BY_PROFILE.get(profile or "default", MODEL_DEFAULT)

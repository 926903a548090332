"""Zoho's official SDK initialised against the emulator, for the SDK tests (import after importorskip)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig


@contextlib.contextmanager
def sdk_on_emulator(emulator: Any, work_dir: Path) -> Iterator[None]:
    """
    Initialise the SDK's global ``Initializer`` with the emulator's URLs and credentials, and put
    the previous state back afterwards.

    :param emulator: the running emulator.
    :param work_dir: where the SDK keeps its token file and resources.
    """
    saved = (Initializer.initializer, getattr(Initializer.LOCAL, "init", None))
    url = emulator.url
    Initializer.LOCAL.init = None
    Initializer.initialize(
        environment=DataCenter.Environment(url, f"{url}/oauth/v2/token", url),
        token=OAuthToken(
            client_id=emulator.client_id,
            client_secret=emulator.client_secret,
            refresh_token=emulator.refresh_token,
        ),
        store=FileStore(str(work_dir / "tokens.csv")),
        sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=False),
        resource_path=str(work_dir),
    )
    try:
        yield
    finally:
        Initializer.initializer, Initializer.LOCAL.init = saved

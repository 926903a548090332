"""Zoho's data centres and environments: which hosts a connection talks to.

Each data centre has its own accounts server (OAuth tokens) and API domain, and tokens only work in
the data centre (and environment) that issued them. Sandbox and developer environments use the
production accounts server and their own API domain.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DATA_CENTERS", "ENVIRONMENTS", "DataCenter", "resolve_data_center"]

ENVIRONMENTS: tuple[str, ...] = ("production", "sandbox", "developer")


@dataclass(frozen=True)
class DataCenter:
    """
    The hosts of one Zoho data centre.

    :param code: the short name used in connections (``us``, ``eu``...).
    :param name: a human name.
    :param accounts_url: the OAuth accounts server.
    :param domain: the suffix of the API hosts (``zohoapis.<domain>``).
    :param crm_web_url: the CRM web UI, for links to records.
    """

    code: str
    name: str
    accounts_url: str
    domain: str
    crm_web_url: str

    def api_domain(self, environment: str = "production") -> str:
        """Return the API domain of ``environment`` (``production``, ``sandbox`` or ``developer``)."""
        prefix = {"production": "www", "sandbox": "sandbox", "developer": "developer"}[environment]
        return f"https://{prefix}.zohoapis.{self.domain}"

    def web_url(self, environment: str = "production") -> str:
        """Return the CRM web UI of ``environment`` (sandboxes live on ``crmsandbox`` hosts)."""
        if environment == "sandbox":
            return self.crm_web_url.replace("://crm.", "://crmsandbox.", 1)
        return self.crm_web_url


DATA_CENTERS: dict[str, DataCenter] = {
    dc.code: dc
    for dc in (
        DataCenter("us", "United States", "https://accounts.zoho.com", "com", "https://crm.zoho.com"),
        DataCenter("eu", "Europe", "https://accounts.zoho.eu", "eu", "https://crm.zoho.eu"),
        DataCenter("in", "India", "https://accounts.zoho.in", "in", "https://crm.zoho.in"),
        DataCenter("au", "Australia", "https://accounts.zoho.com.au", "com.au", "https://crm.zoho.com.au"),
        DataCenter("jp", "Japan", "https://accounts.zoho.jp", "jp", "https://crm.zoho.jp"),
        DataCenter("cn", "China", "https://accounts.zoho.com.cn", "com.cn", "https://crm.zoho.com.cn"),
        # Canada is the odd one out: its accounts server is on zohocloud.ca, its API on zohoapis.ca.
        DataCenter("ca", "Canada", "https://accounts.zohocloud.ca", "ca", "https://crm.zohocloud.ca"),
        DataCenter("sa", "Saudi Arabia", "https://accounts.zoho.sa", "sa", "https://crm.zoho.sa"),
        # The UK data centre is the newest; its API host follows the others' pattern (zohoapis.uk).
        DataCenter("uk", "United Kingdom", "https://accounts.zoho.uk", "uk", "https://crm.zoho.uk"),
    )
}

# Spellings people copy from Zoho's URLs and docs, mapped to our codes.
_ALIASES = {
    "com": "us",
    "zoho.com": "us",
    "zoho.eu": "eu",
    "zoho.in": "in",
    "com.au": "au",
    "zoho.com.au": "au",
    "zoho.jp": "jp",
    "com.cn": "cn",
    "zoho.com.cn": "cn",
    "zohocloud.ca": "ca",
    "zoho.sa": "sa",
    "zoho.uk": "uk",
    "gb": "uk",
}


def resolve_data_center(value: str) -> DataCenter | None:
    """Return the data centre named by ``value`` (a code or a domain, any case), or ``None``."""
    key = value.strip().lower()
    key = _ALIASES.get(key, key)
    return DATA_CENTERS.get(key)

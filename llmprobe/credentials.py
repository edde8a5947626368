"""A provider's secrets, read from the environment where they live instead of in providers.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from llmprobe.config import ACCOUNT_ID_PLACEHOLDER, ProviderConfig
from llmprobe.errors import ConfigError


@dataclass(frozen=True)
class Credentials:
    """What a provider needs from the environment; the key stays out of repr so no log can show it."""

    #: base_url with {account_id} filled in.
    base_url: str
    #: Empty for providers without api_key_env (local servers).
    api_key: str = field(default="", repr=False)
    #: Filled in only when base_url needed it; recordings replace it with ACCOUNT_ID.
    account_id: str = field(default="", repr=False)


def resolve_credentials(provider: ProviderConfig, environ: Mapping[str, str]) -> Credentials:
    """Read the provider's secrets from the environment, where they live instead of in the file.

    Errors name the variable, never its value. The account id is read only when
    base_url still holds {account_id}, so a --base-url override needs none.
    """
    api_key = _environment_value(provider, provider.api_key_env, environ) if provider.api_key_env else ""
    base_url, account_id = provider.base_url, ""
    if ACCOUNT_ID_PLACEHOLDER in base_url:
        if not provider.account_id_env:
            problem = f"base_url holds {ACCOUNT_ID_PLACEHOLDER} but account_id_env is not set"
            raise ConfigError(f"provider {provider.name}: {problem}")
        account_id = _environment_value(provider, provider.account_id_env, environ)
        base_url = base_url.replace(ACCOUNT_ID_PLACEHOLDER, quote(account_id, safe=""))
    return Credentials(base_url=base_url, api_key=api_key, account_id=account_id)


def _environment_value(provider: ProviderConfig, name: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name)
    if value is None:
        raise ConfigError(f"provider {provider.name}: environment variable {name} is not set")
    if not value.strip():
        raise ConfigError(f"provider {provider.name}: environment variable {name} is empty")
    return value


def credentials_hint(provider: ProviderConfig) -> str:
    """What to check when a provider refuses us: the variables its credentials come from."""
    variables = [v for v in (provider.api_key_env, provider.account_id_env) if v]
    return f"check {' and '.join(variables)}" if variables else "check the provider's settings"

"""A backend's secrets, read from the environment once: the API key and ``headers_env``.

Keys never live in config files: the config names the variables
(``api_key_env``, ``headers_env``) and this reads them when the backend is
built. A variable that is named but empty makes the backend unusable for the
run (:class:`~docling_hybrid_cli.errors.BackendNotConfigured`), which the
chain treats as "this backend cannot help", not as a failure of the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..backend_configs import HttpBackendConfig
from ..errors import BackendNotConfigured

__all__ = ["Credentials"]


@dataclass(frozen=True)
class Credentials:
    """The values of a backend's secret variables (absent ones left out)."""

    api_key: str | None
    headers: dict[str, str]
    """Header name → value, from ``headers_env``."""

    @classmethod
    def read(cls, config: HttpBackendConfig, environ: Mapping[str, str]) -> Credentials:
        key = environ.get(config.api_key_env) or None if config.api_key_env else None
        headers = {
            header: environ[variable]
            for header, variable in config.headers_env.items()
            if environ.get(variable)
        }
        return cls(api_key=key, headers=headers)

    def missing(self, config: HttpBackendConfig) -> BackendNotConfigured | None:
        """The error for the first named variable that is not set, or None."""
        unset: list[tuple[str, str]] = []
        if config.api_key_env and not self.api_key:
            unset.append((config.api_key_env, ""))
        unset += [
            (variable, f" (for the {header} header)")
            for header, variable in config.headers_env.items()
            if header not in self.headers
        ]
        if not unset:
            return None
        variable, what = unset[0]
        return BackendNotConfigured(
            f"{config.name}: {variable}{what} is not set",
            backend=config.name,
            hint=f"export {variable}=... or remove {config.name} from the chain",
        )

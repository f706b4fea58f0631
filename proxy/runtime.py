"""The current config and everything compiled from it, swapped atomically on reload.

A request takes one snapshot (`holder.current`) at its start and uses it to the end, so a
reload never changes the rules in the middle of a response.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from proxy.config import Config
from proxy.headers import Network


@dataclass(frozen=True, slots=True)
class Runtime:
    """One compiled config. Built fully (and so validated) before it replaces the old one."""

    config: Config
    upstream_url: str  # scheme://host[:port], no trailing slash
    upstream_host: str  # host[:port] as it goes in a Host header
    hostnames: frozenset[str]
    trusted: tuple[Network, ...]
    bypass_paths: tuple[str, ...]
    config_hash: str

    @classmethod
    def build(cls, config: Config, config_hash: str = "") -> "Runtime":
        parts = urlsplit(config.upstream.url)
        return cls(
            config=config,
            upstream_url=config.upstream.url,
            upstream_host=parts.netloc,
            hostnames=frozenset(config.site.hostnames),
            trusted=config.trusted_networks,
            bypass_paths=config.bypass_paths,
            config_hash=config_hash,
        )

    def host_allowed(self, host: str) -> bool:
        """Whether a request for `host` (no port, lower-case) is ours to answer. Empty list: all."""
        if not self.hostnames:
            return True
        if host in self.hostnames:
            return True
        dot = host.find(".")
        return dot > 0 and ("*" + host[dot:]) in self.hostnames

    def is_bypassed(self, path: str) -> bool:
        return bool(self.bypass_paths) and path.startswith(self.bypass_paths)


class RuntimeHolder:
    """Holds the current Runtime; assignment of one attribute is atomic in the event loop."""

    def __init__(self, runtime: Runtime) -> None:
        self.current = runtime

"""The current config and everything compiled from it, swapped atomically on reload.

A request takes one snapshot (`holder.current`) at its start and uses it to the end, so a
reload never changes the rules in the middle of a response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from proxy.catalogue import SOURCE_SITE, Catalogue, CatalogueError, CookieRule, HostRule
from proxy.config import Config, ConfigError, Problem
from proxy.consent import ConsentSettings, consent_cookie_names
from proxy.headers import Network
from proxy.policy import PathRule, Policy, SiteRules
from proxy.rewriter import RewriteSettings
from proxy.signatures import DEFAULT_SIGNATURES, compile_signatures
from proxy.categories import OPTIONAL_CATEGORIES


def _merged(defaults: tuple[tuple[object, str], ...], overrides: dict) -> tuple[tuple[object, str], ...]:  # type: ignore[type-arg]
    """A reader's default map with the config's entries on top (config wins per key)."""
    merged = dict(defaults)
    merged.update(overrides)
    return tuple(merged.items())


def consent_settings(config: Config) -> ConsentSettings:
    c = config.consent
    d = ConsentSettings()
    return ConsentSettings(
        sources=c.sources,
        onetrust_groups=tuple(c.onetrust.groups.items()),
        cookiebot_fields=_merged(d.cookiebot_fields, c.cookiebot.map),  # type: ignore[arg-type]
        cookieyes_fields=_merged(d.cookieyes_fields, c.cookieyes.map),  # type: ignore[arg-type]
        complianz_categories=_merged(d.complianz_categories, c.complianz.map),  # type: ignore[arg-type]
        klaro_services=_merged(d.klaro_services, c.klaro.map),  # type: ignore[arg-type]
        cookieconsent_categories=_merged(d.cookieconsent_categories, c.cookieconsent.map),  # type: ignore[arg-type]
        cookieconsent_revision=c.cookieconsent.revision,
        cookieconsent_cookie=c.cookieconsent.cookie_name,
        borlabs_groups=_merged(d.borlabs_groups, c.borlabs.map),  # type: ignore[arg-type]
        tarteaucitron_services=_merged(d.tarteaucitron_services, c.tarteaucitron.map),  # type: ignore[arg-type]
        didomi_purposes=_merged(d.didomi_purposes, c.didomi.map),  # type: ignore[arg-type]
        tcf_purposes=_merged(d.tcf_purposes, c.tcf.purposes),  # type: ignore[arg-type]
        gpc_denies=frozenset(c.gpc.denies) if c.gpc.enabled else frozenset(),
        dnt_enabled=c.dnt.enabled,
        dnt_denies=frozenset(c.dnt.denies),
        geo_header=c.geo.header,
        opt_out_regions=frozenset(r.upper() for r in c.geo.opt_out_regions),
        opt_out_grants=frozenset(c.geo.opt_out_grants),
    )


def site_rules(config: Config) -> SiteRules:
    host_rules = tuple(HostRule(r.host, r.category, r.vendor or "site", SOURCE_SITE, r.path)
                       for r in config.trackers.rules)
    if config.trackers.tag_managers == "strictest":
        host_rules += tuple(HostRule(h, "advertising", "tag manager (strictest)", SOURCE_SITE, p)
                            for h, p in TAG_MANAGER_HOSTS)
    return SiteRules(
        cookie_rules=tuple(CookieRule(r.name, r.match, r.category, r.vendor or "site", SOURCE_SITE)
                           for r in config.cookies.rules),
        host_rules=host_rules,
        path_rules=tuple(PathRule(r.path, r.category, r.vendor or "site") for r in config.trackers.same_origin_paths),
        first_party_hosts=config.site.first_party_hosts,
        unclassified_cookies=config.cookies.unclassified,
    )


def rewrite_settings(config: Config) -> RewriteSettings:
    t = config.trackers
    modes = {c: "report" for c in OPTIONAL_CATEGORIES} if t.report_only else dict(t.modes)
    deny_unknown = frozenset(t.unknown_third_party_kinds) if t.unknown_third_party == "deny" else frozenset()
    signatures = compile_signatures(TAG_MANAGER_STRICTEST) if t.tag_managers == "strictest" else DEFAULT_SIGNATURES
    return RewriteSettings(modes=modes, inline_script_cap=t.inline_script_cap,
                           over_cap_action=t.over_cap_inline_scripts, signatures=signatures,
                           unknown_third_party_deny=deny_unknown)


#: `trackers.tag_managers: strictest`: a tag manager can inject any tag at run time, out of
#: the proxy's sight, so it may load only with the strictest category's consent.
TAG_MANAGER_STRICTEST = {"gtm": "advertising", "adobe": "advertising"}
TAG_MANAGER_HOSTS = (("www.googletagmanager.com", "/gtm.js"), ("www.googletagmanager.com", "/ns.html"),
                     ("assets.adobedtm.com", ""))


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
    policy: Policy
    consent: ConsentSettings
    #: Cookies of every consent reader: never filtered, never purged.
    protected_cookies: frozenset[str]
    rewrite_settings: RewriteSettings
    #: Memo of per-request consent decisions (proxy.pipeline.plan_request); bounded, and new
    #: with every runtime, so a reload never serves a decision made under old rules.
    decisions: dict[Any, Any] = field(default_factory=dict)

    def mode_for(self, category: str) -> str:
        """remove | neutralise | report for a category (report-only overrides everything)."""
        return self.rewrite_settings.mode_for(category)

    @property
    def report_categories(self) -> frozenset[str]:
        """Categories in report-only mode: counted as blocked, never changed."""
        return frozenset(c for c in OPTIONAL_CATEGORIES if self.mode_for(c) == "report")

    @classmethod
    def build(cls, config: Config, catalogue: Catalogue, config_hash: str = "", fname: str = "<config>") -> "Runtime":
        """Compile `config`; raises ConfigError when a rule cannot be compiled."""
        try:
            policy = Policy.compile(site_rules(config), catalogue)
            settings = consent_settings(config)
        except (CatalogueError, ValueError) as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            raise ConfigError([Problem(fname, 1, 1, "(rules)", str(p)) for p in problems]) from None
        parts = urlsplit(config.upstream.url)
        return cls(
            config=config,
            upstream_url=config.upstream.url,
            upstream_host=parts.netloc,
            hostnames=frozenset(config.site.hostnames),
            trusted=config.trusted_networks,
            bypass_paths=config.bypass_paths,
            config_hash=config_hash,
            policy=policy,
            consent=settings,
            protected_cookies=consent_cookie_names(settings) | {"cp_consent"},
            rewrite_settings=rewrite_settings(config),
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

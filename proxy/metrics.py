"""Prometheus metrics, in a registry injected by the caller (never the global default one).

Label values come only from the four category names and small fixed sets: never cookie
names, hosts or URLs. Every labelled series is created at start so dashboards see zeros.
No custom collectors, Info or Enum (they break prometheus-client's multiprocess mode).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from proxy import __version__
from proxy.categories import CATEGORIES, OPTIONAL_CATEGORIES, Consent
from proxy.unclassified import UnclassifiedLog

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
UPSTREAM_ERRORS = ("connect", "timeout", "reset", "bad_response", "unsolicited_101", "other")
COOKIE_WHERE = ("set_cookie", "request_cookie", "purge")
ELEMENT_KINDS = ("script-src", "inline-script", "img", "source", "iframe", "noscript", "link", "embed", "object",
                 "a-ping", "header")
MODES = ("enforce", "report")
STATES = ("granted", "denied", "unknown")
CONSENT_SOURCES = ("cp_consent", "onetrust", "cookiebot", "cookieyes", "complianz", "klaro", "cookieconsent",
                   "borlabs", "tarteaucitron", "didomi", "tcf", "gpc", "dnt", "geo", "policy", "none")
FAIL_OPEN = ("over_cap_inline_script", "unknown_third_party_kept", "unclassified_cookie_allowed")
REWRITE_ABORTS = ("decode", "rewrite", "encode", "too_large", "upstream")
RELOAD_RESULTS = ("success", "failure")


class Metrics:
    """All of consent-proxy's metrics, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None, multiprocess: bool = False) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        p = "consentproxy_"
        self.requests = Counter(p + "requests_total", "Requests answered, by status class and whether the body was rewritten.",
                                ["status_class", "rewritten"], registry=r)
        self.upstream_errors = Counter(p + "upstream_errors_total", "Upstream requests that failed, by reason.",
                                       ["reason"], registry=r)
        self.upstream_duration = Histogram(p + "upstream_request_duration_seconds",
                                           "Time from sending the upstream request to its response headers.",
                                           registry=r, buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.request_body_rejected = Counter(p + "request_body_rejected_total",
                                             "Requests refused because the body exceeded limits.max_request_body.", registry=r)
        self.refused = Counter(p + "requests_refused_total", "Requests refused before reaching the upstream, by reason.",
                               ["reason"], registry=r)
        self.cookies_blocked = Counter(p + "cookies_blocked_total", "Cookies blocked, by category and where.",
                                       ["category", "where", "mode"], registry=r)
        self.elements_blocked = Counter(p + "elements_blocked_total", "HTML elements blocked, by category and element kind.",
                                        ["category", "kind", "mode"], registry=r)
        self.consent_decisions = Counter(p + "consent_decisions_total", "Consent decisions, by category, state and source.",
                                         ["category", "state", "source"], registry=r)
        self.consent_parse_failures = Counter(p + "consent_parse_failures_total",
                                              "Consent cookies present but malformed, by reader.", ["source"], registry=r)
        self.unclassified_cookies = Counter(p + "unclassified_cookies_total", "Cookies no rule classifies.", registry=r)
        self.unknown_third_parties = Counter(p + "unknown_third_party_hosts_total",
                                             "Third-party resources on unknown hosts seen in HTML.", registry=r)
        self.fail_open = Counter(p + "fail_open_total", "Times a fail-open default let something through, by kind.",
                                 ["kind"], registry=r)
        self.rewrite_bytes = Counter(p + "rewrite_input_bytes_total", "Decoded HTML bytes fed to the rewriter.", registry=r)
        self.rewrite_duration = Histogram(p + "rewrite_duration_seconds", "CPU time spent rewriting one HTML response.",
                                          registry=r, buckets=(.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1))
        self.rewrite_aborts = Counter(p + "rewrite_aborts_total", "Rewritten responses aborted mid-stream, by reason.",
                                      ["reason"], registry=r)
        self.reloads = Counter(p + "config_reloads_total", "Config reloads, by result.", ["result"], registry=r)
        gauge_mode = {"multiprocess_mode": "max"} if multiprocess else {}
        # With workers, a failed reload in any live process (the supervisor's validation or a
        # worker's) must show as 0, so the processes' values combine by their minimum.
        self.last_reload_ok = Gauge(p + "config_last_reload_successful", "1 if the last config reload succeeded.",
                                    registry=r, **({"multiprocess_mode": "livemin"} if multiprocess else {}))
        self.last_reload_time = Gauge(p + "config_last_reload_success_timestamp_seconds",
                                      "Unix time of the last successful config load.", registry=r, **gauge_mode)
        self.build_info = Gauge(p + "build_info", "Always 1; the version label says which build runs.",
                                ["version"], registry=r, **gauge_mode)
        self._children: dict[tuple[str, ...], object] = {}
        #: Names behind the unclassified counters, for the periodic log summary (never labels).
        self.unclassified_names = UnclassifiedLog()
        #: Increments batched per labelled child and applied by flush() (every second and before
        #: each scrape): a Counter.inc takes a lock, and a request can touch a dozen series.
        self._pending: dict[Any, float] = {}
        self._decisions: dict[Any, int] = {}
        self._initialise()

    def _bump(self, metric: Counter, labels: tuple[str, ...], n: float = 1) -> None:
        child = self._child(metric, *labels)
        self._pending[child] = self._pending.get(child, 0) + n

    def flush(self) -> None:
        """Apply the batched increments."""
        decisions, self._decisions = self._decisions, {}
        for decision, n in decisions.items():
            self._count_decision(decision, n)
        pending, self._pending = self._pending, {}
        for child, n in pending.items():
            child.inc(n)

    def count_decision(self, decision: Any) -> None:
        """Everything one request's consent decision counts (decisions, parse failures, blocked,
        reported and unclassified cookies), batched per decision: requests sharing a memoised
        decision cost one dict update each; the counting happens at flush."""
        self._decisions[decision] = self._decisions.get(decision, 0) + 1

    def _count_decision(self, decision: Any, n: int) -> None:
        result = decision.result
        self.count_consent(result.consent, result.parse_failures, n)
        if decision.unclassified:
            self.count_unclassified_cookies(decision.unclassified, n)
        if decision.reported:
            self.count_cookies_blocked(decision.reported, "request_cookie", "report", n)
        if decision.blocked:
            self.count_cookies_blocked(decision.blocked, "request_cookie", n=n)

    def _child(self, metric: Counter, *labels: str):  # type: ignore[no-untyped-def]
        """Labelled children are looked up once and kept: `.labels()` costs a lock and a dict build."""
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels) if labels else metric
        return child

    def count_consent(self, consent: Consent, parse_failures: tuple[str, ...] = (), n: int = 1) -> None:
        for category in OPTIONAL_CATEGORIES:
            d = consent.decisions.get(category)
            if d is not None:
                source = d.source if d.source in CONSENT_SOURCES else "none"
                self._bump(self.consent_decisions, (category, d.state.value, source), n)
        for source in parse_failures:
            if source in CONSENT_SOURCES:
                self._bump(self.consent_parse_failures, (source,), n)

    def count_cookies_blocked(self, removed: Iterable[tuple[str, str]], where: str, mode: str = "enforce",
                              n: int = 1) -> None:
        per_category: dict[str, int] = {}
        for _name, category in removed:
            per_category[category] = per_category.get(category, 0) + n
        for category, n in per_category.items():
            if category in CATEGORIES:
                self._bump(self.cookies_blocked, (category, where, mode), n)

    def count_request(self, status_class: str, rewritten: bool) -> None:
        self._child(self.requests, status_class, "true" if rewritten else "false").inc()

    def count_unclassified_cookies(self, names: tuple[str, ...], n: int = 1) -> None:
        self._bump(self.unclassified_cookies, (), len(names) * n)
        self._bump(self.fail_open, ("unclassified_cookie_allowed",), len(names) * n)
        self.unclassified_names.add("cookie", names, n)

    def count_rewrite_events(self, rewriter: Any) -> None:
        """Count what one rewriter removed, neutralised or reported, and its fail-open events."""
        for ev in rewriter.events:
            if (ev.category in CATEGORIES or ev.category == "unclassified") and ev.kind in ELEMENT_KINDS:
                mode = "report" if ev.action == "reported" else "enforce"
                self._bump(self.elements_blocked, (ev.category, ev.kind, mode))
        rewriter.events.clear()
        if rewriter.over_cap_total:
            self._bump(self.fail_open, ("over_cap_inline_script",), rewriter.over_cap_total)
            rewriter.over_cap_total = 0
        if rewriter.fail_open_events:
            self.unclassified_names.add("host", [e.host for e in rewriter.fail_open_events if e.host])
            rewriter.fail_open_events.clear()
        if rewriter.unknown_third_party_total:
            self._bump(self.unknown_third_parties, (), rewriter.unknown_third_party_total)
            self._bump(self.fail_open, ("unknown_third_party_kept",), rewriter.unknown_third_party_total)
            rewriter.unknown_third_party_total = 0

    def count_header_blocked(self, category: str, mode: str) -> None:
        if category in CATEGORIES:
            self._child(self.elements_blocked, category, "header", mode).inc()

    def _initialise(self) -> None:
        for sc in STATUS_CLASSES:
            for rw in ("true", "false"):
                self.requests.labels(sc, rw)
        for reason in UPSTREAM_ERRORS:
            self.upstream_errors.labels(reason)
        for reason in ("absolute_form", "connect_method", "misdirected", "bad_host", "upgrade"):
            self.refused.labels(reason)
        for cat in CATEGORIES:
            for mode in MODES:
                for where in COOKIE_WHERE:
                    self.cookies_blocked.labels(cat, where, mode)
                for kind in ELEMENT_KINDS:
                    self.elements_blocked.labels(cat, kind, mode)
        for mode in MODES:
            for kind in ELEMENT_KINDS:
                self.elements_blocked.labels("unclassified", kind, mode)
        for cat in OPTIONAL_CATEGORIES:
            for state in STATES:
                for src in CONSENT_SOURCES:
                    self.consent_decisions.labels(cat, state, src)
        for src in CONSENT_SOURCES[:11]:
            self.consent_parse_failures.labels(src)
        for kind in FAIL_OPEN:
            self.fail_open.labels(kind)
        for reason in REWRITE_ABORTS:
            self.rewrite_aborts.labels(reason)
        for result in RELOAD_RESULTS:
            self.reloads.labels(result)
        self.build_info.labels(__version__).set(1)
        self.last_reload_ok.set(1)

"""The embedded demo origin: a small company site with real-shaped tracker snippets.

`consent-proxy demo` puts the proxy in front of it so a person can click the banner and see
trackers and cookies disappear; the integration tests use it as a realistic origin.
"""

from proxy.demo.site import PAGES, make_demo_app

__all__ = ["PAGES", "make_demo_app"]

"""consent-proxy: a reverse proxy that makes a website obey each visitor's cookie consent."""

__version__ = "0.1.0"

"""`consent-proxy demo`: the embedded demo origin, the proxy in front of it, the admin port.

Everything binds to 127.0.0.1 by default. The proxy runs the bundled default config with
its upstream pointed at the demo origin.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

from proxy.config import HostPort, bundled_config_path, load_config
from proxy.demo.site import make_demo_app
from proxy.server import start, stop


async def run_demo(listen: HostPort, origin: HostPort, admin: HostPort) -> int:
    origin_runner = web.AppRunner(make_demo_app(), access_log=None)
    await origin_runner.setup()
    await web.TCPSite(origin_runner, origin.host, origin.port).start()
    origin_url = f"http://{origin}"
    path = bundled_config_path()
    overrides = {("upstream", "url"): origin_url, ("listen", "address"): str(listen),
                 ("admin", "address"): str(admin)}
    config = load_config(path, overrides, use_env=False)
    app = await start(path, overrides, config)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, app.stopping.set)
    loop.add_signal_handler(signal.SIGINT, app.stopping.set)
    loop.add_signal_handler(signal.SIGHUP, app.reload)
    print(
        "\nconsent-proxy demo is running\n"
        f"  through the proxy (consent enforced): http://{listen}/\n"
        f"  the origin directly (no proxy):       {origin_url}/\n"
        f"  metrics:                              http://{admin}/metrics\n"
        "Open both, click the cookie banner's buttons, compare. Ctrl-C stops.\n",
        file=sys.stdout, flush=True,
    )
    await app.stopping.wait()
    await stop(app)
    await origin_runner.cleanup()
    return 0

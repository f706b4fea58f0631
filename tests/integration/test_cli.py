"""The command line as ops use it: check, run, signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

GOLDEN = Path(__file__).parent.parent / "golden"
ROOT = Path(__file__).parent.parent.parent


def cli(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, **kw)


def test_check_reports_three_problems_with_positions(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((GOLDEN / "bad_config.yaml").read_text())
    result = cli("check", str(bad))
    assert result.returncode == 1
    expected = (GOLDEN / "bad_config.expected").read_text().replace("FILE", str(bad))
    assert result.stderr == expected
    assert result.stdout == ""


def test_check_accepts_shipped_configs():
    for name in ("default.yaml", "example.yaml"):
        result = cli("check", str(ROOT / "config" / name))
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("\n") == 1 and ": ok:" in result.stdout


def test_check_rejects_duplicate_keys_and_bad_yaml(tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text("upstream:\n  url: http://a\nupstream:\n  url: http://b\n")
    result = cli("check", str(dup))
    assert result.returncode == 1
    assert f"{dup}:3:1: upstream: duplicate key" in result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("upstream: [\n")
    result = cli("check", str(broken))
    assert result.returncode == 1 and str(broken) in result.stderr and "invalid YAML" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_run_serves_and_exits_zero_on_sigterm_and_sigint():
    for sig in (signal.SIGTERM, signal.SIGINT):
        port, admin = _free_port(), _free_port()
        env = {**os.environ, "CONSENT_PROXY_UPSTREAM": f"http://127.0.0.1:{_free_port()}"}
        proc = subprocess.Popen([sys.executable, "-m", "proxy", "run", "--listen", f"127.0.0.1:{port}",
                                 "--admin", f"127.0.0.1:{admin}"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert _wait_http(f"http://127.0.0.1:{admin}/livez", time.monotonic() + 20) == b"ok\n"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
            except urllib.error.HTTPError as exc:
                assert exc.code == 502  # the env var's upstream is used, and nothing listens there
            proc.send_signal(sig)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_run_with_bad_flag_value_exits_one():
    result = cli("run", "--upstream", "ftp://x", "--listen", "127.0.0.1:1")
    assert result.returncode == 1
    assert "upstream.url" in result.stderr and "not an http://" in result.stderr


def test_explain_prints_each_category_with_its_source(tmp_path):
    cfg = tmp_path / "ot.yaml"
    cfg.write_text("upstream: {url: 'http://127.0.0.1:1'}\nconsent:\n  sources: [onetrust, cp_consent]\n")
    result = cli("explain", "--config", str(cfg), "--header", "Sec-GPC: 1", "--cookie",
                 "OptanonAlertBoxClosed=2025-10-13T14:22:35.236Z; OptanonConsent=interactionCount=3&groups="
                 "C0001%3A1%2CC0002%3A1%2CC0003%3A0%2CC0004%3A1; _ga=GA1.2.3; _fbp=fb.1; sessionid=x; foo=1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (GOLDEN / "explain_onetrust_gpc.txt").read_text()


def test_check_warns_when_several_banner_readers_are_enabled(tmp_path):
    cfg = tmp_path / "two.yaml"
    cfg.write_text("upstream: {url: 'http://127.0.0.1:1'}\nsite: {hostnames: [www.example.com]}\n"
                   "consent:\n  sources: [cp_consent, onetrust, cookiebot]\n")
    result = cli("check", str(cfg))
    assert result.returncode == 0
    assert "several banner readers (onetrust, cookiebot)" in result.stderr
    assert "stale cookie" in result.stderr


def test_demo_prints_both_urls_serves_through_the_proxy_and_exits_zero():
    listen, origin, admin = _free_port(), _free_port(), _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "proxy", "demo", "--listen", f"127.0.0.1:{listen}",
                             "--origin", f"127.0.0.1:{origin}", "--admin", f"127.0.0.1:{admin}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while not any("Ctrl-C" in line for line in lines):
            assert time.monotonic() < deadline, lines
            lines.append(proc.stdout.readline())
        out = "".join(lines)
        assert f"http://127.0.0.1:{listen}/" in out and f"http://127.0.0.1:{origin}/" in out
        proxied = _wait_http(f"http://127.0.0.1:{listen}/", time.monotonic() + 10)
        direct = _wait_http(f"http://127.0.0.1:{origin}/", time.monotonic() + 10)
        assert b"googletagmanager.com" in direct and b"googletagmanager.com" not in proxied
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()

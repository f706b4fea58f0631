"""The functional core imports no aiohttp (STYLE: pure modules, thin async shell)."""

import subprocess
import sys

PURE = ["proxy.categories", "proxy.cookieheader", "proxy.consent", "proxy.consent_readers", "proxy.tcf",
        "proxy.catalogue", "proxy.policy", "proxy.cookies", "proxy.rewriter", "proxy.signatures",
        "proxy.codings", "proxy.unclassified", "proxy.headers"]

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "aiohttp" or name.startswith("aiohttp."):
            raise ImportError("aiohttp is blocked for pure modules: " + name)
        return None
sys.meta_path.insert(0, Block())
import importlib
for mod in sys.argv[1:]:
    importlib.import_module(mod)
print("ok")
"""


def test_pure_modules_import_without_aiohttp():
    result = subprocess.run([sys.executable, "-c", BLOCKER, *PURE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_blocker_really_blocks():
    result = subprocess.run([sys.executable, "-c", BLOCKER, "proxy.handler"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0 and "aiohttp is blocked" in result.stderr

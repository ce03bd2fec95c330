"""Where the compiled kernels are cached: the decision, and a read-only install end to end."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bgsub.models import numba_cache

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def blocked(tmp_path):
    """A path that cannot be created, even by root: its parent is a regular file."""
    parent = tmp_path / "a-file"
    parent.write_text("")
    return parent / "dir"


def test_writable_dir_is_created_and_written(tmp_path):
    target = tmp_path / "new" / "cache"
    assert numba_cache.is_writable_dir(target)
    assert target.is_dir() and not any(target.iterdir())  # the probe file is gone


def test_uncreatable_dir_is_not_writable(blocked):
    assert not numba_cache.is_writable_dir(blocked)


def test_users_own_setting_is_kept(blocked):
    env = {"NUMBA_CACHE_DIR": "/somewhere/else"}
    assert numba_cache.choose_cache_dir(blocked, env) is None


def test_writable_package_keeps_numbas_default(tmp_path):
    assert numba_cache.choose_cache_dir(tmp_path, {}) is None
    assert (tmp_path / "__pycache__").is_dir()


def test_read_only_package_falls_back_to_the_xdg_cache(blocked, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert numba_cache.choose_cache_dir(blocked, env) == str(tmp_path / "xdg" / "bgsub" / "numba")


def test_without_a_home_cache_the_temp_dir_is_used(blocked, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    env = {"XDG_CACHE_HOME": str(blocked)}
    chosen = numba_cache.choose_cache_dir(blocked, env)
    assert chosen == str(tmp_path / "tmp" / f"bgsub-numba-{os.getuid()}")


PROBE = """
import json, numba, numpy as np, bgsub
model = bgsub.GaussianMixture()
for _ in range(2):
    model.apply(np.zeros((24, 32, 3), np.uint8))
stats = model._kernel.stats
print(json.dumps({"package": bgsub.__file__, "cache_dir": numba.config.CACHE_DIR,
                  "hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
"""


def _can_drop_write_access():
    """``unshare --user`` runs a command whose writes obey the owner's permission bits (root
    keeps no override there), which is how a read-only install looks to an ordinary user."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--user", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_drop_write_access(), reason="needs unshare --user (Linux)")
def test_read_only_install_without_a_home_caches_in_the_temp_dir():
    root = Path(tempfile.mkdtemp(prefix="bgsub-ro-"))
    try:
        site = root / "site"
        shutil.copytree(REPO / "bgsub", site / "bgsub", ignore=shutil.ignore_patterns("__pycache__"))
        home = root / "home"
        (root / "tmp").mkdir()
        home.mkdir()
        for path in [home, *site.rglob("*"), site]:
            path.chmod(path.stat().st_mode & 0o555)
        env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
        env.update(HOME=str(home), TMPDIR=str(root / "tmp"), PYTHONPATH=str(site))
        runs = []
        for _ in range(2):
            out = subprocess.run(["unshare", "--user", sys.executable, "-c", PROBE], env=env,
                                 cwd=root, capture_output=True, text=True, timeout=240)
            assert out.returncode == 0, out.stderr
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        assert runs[0]["package"].startswith(str(site))
        assert all(run["cache_dir"].startswith(str(root / "tmp" / "bgsub-numba-")) for run in runs)
        assert runs[0]["misses"] == 1  # compiled once ...
        assert runs[1] == {**runs[0], "hits": 1, "misses": 0}  # ... and loaded the next time
        assert not list(site.rglob("*.nbi"))  # nothing written into the install
    finally:
        for path in root.rglob("*"):
            path.chmod(0o755)
        shutil.rmtree(root)

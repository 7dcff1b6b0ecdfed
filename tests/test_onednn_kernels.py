"""`import autoarch` turns TensorFlow's oneDNN CPU kernels on, unless the user said otherwise.

(With TensorFlow imported first, TensorFlow has read the variable already:
that case is TensorFlow's own behaviour, documented, not tested here.)
"""

import os
import platform
import subprocess
import sys

import pytest

_SCRIPT = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import autoarch
from tensorflow.python.util import _pywrap_util_port
print(os.environ.get("TF_ENABLE_ONEDNN_OPTS"), _pywrap_util_port.IsMklEnabled())
"""

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                                reason="autoarch sets the oneDNN default on x86-64 CPUs only")


def _run(setting=None):
    env = {name: value for name, value in os.environ.items() if name != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    done = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_import_autoarch_turns_the_onednn_kernels_on():
    assert _run() == "1 True"


def test_an_explicit_setting_wins():
    assert _run(setting="0") == "0 False"


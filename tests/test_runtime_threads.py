"""`configure_cpu_threads` does what it says, in a fresh process (it is process-wide and once only)."""

import json
import subprocess
import sys

import pytest
import tensorflow as tf

_SCRIPT = """
import json, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import tensorflow as tf
from autoarch.runtime import configure_cpu_threads
first = configure_cpu_threads(3)
threads = [tf.config.threading.get_intra_op_parallelism_threads(),
           tf.config.threading.get_inter_op_parallelism_threads()]
tf.constant(1.0) + 1.0  # TensorFlow has started: the setting is fixed now
late = configure_cpu_threads(5)
after = [tf.config.threading.get_intra_op_parallelism_threads(),
         tf.config.threading.get_inter_op_parallelism_threads()]
print(json.dumps({"gpu": bool(tf.config.list_physical_devices("GPU")), "first": first, "threads": threads,
                  "late": late, "after": after}))
"""


def _run():
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="a GPU is visible: see the GPU test")
def test_on_cpu_each_op_gets_one_core_and_ops_run_side_by_side():
    found = _run()
    assert found["first"] is True
    assert found["threads"] == [1, 3]
    # Once TensorFlow runs, a second call changes nothing and says so.
    assert found["late"] is False
    assert found["after"] == [1, 3]


@pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="no GPU on this machine: the GPU half cannot run")
def test_with_a_gpu_nothing_is_changed():
    found = _run()
    assert found["gpu"] is True
    assert found["first"] is False
    assert found["threads"] == [0, 0]  # TensorFlow's defaults: left as they were

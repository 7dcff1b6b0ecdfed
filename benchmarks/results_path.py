"""Where the benchmark scripts write their results: one folder per script.

Every script under ``benchmarks/`` that saves figures writes them to
``benchmarks/results/<script>/<name>``, for example
``benchmarks/results/fixed_costs/fixed_costs_mnist10k_precise_bn.json``.
``benchmarks/results/current/`` holds the figures the docs quote now
(``benchmarks/current.py`` builds it).
"""

import os

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def result_dir(script):
    """The folder of ``script``'s results (``benchmarks/results/<script>``), made if missing."""
    folder = os.path.join(RESULTS, script)
    os.makedirs(folder, exist_ok=True)
    return folder


def result_path(script, name):
    """The path of ``script``'s result file ``name``, its folder made if missing.

    Args:
        script: the benchmark script's name without ``.py`` (``"fixed_costs"``).
        name: the file's name inside that folder (``"fixed_costs_digits_300.json"``).
    """
    return os.path.join(result_dir(script), name)


def tagged_name(prefix, tag=""):
    """``<prefix>.json``, or ``<prefix>_<tag>.json`` when ``tag`` is given."""
    return prefix + (f"_{tag}" if tag else "") + ".json"

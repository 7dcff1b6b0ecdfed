"""Every example runs as a user runs it, with tiny settings: scripts in a subprocess, the notebook by nbclient."""

import ast
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from ..test_idx import write_idx
from .conftest import TINY_SPACE

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
TINY = ["--max-trials", "1", "--search-space", json.dumps({**TINY_SPACE, "train_epochs": 3})]

pytestmark = pytest.mark.slow


def run_example(name, *args, cwd):
    """Run ``examples/<name>`` in ``cwd``; returns its stdout, failing with its output if it fails."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_quickstart(tmp_path):
    out = run_example("quickstart.py", *TINY, "--directory", "projects", cwd=tmp_path)
    accuracy = float(out.split("Test accuracy on held-out digits:")[1].split()[0])
    assert accuracy > 0.3  # two tiny epochs; chance is 0.1
    assert "node 2 <-" in out  # the genotype
    assert (tmp_path / "projects" / "quickstart" / "final" / "model.keras").is_file()


def test_mnist_from_idx_files(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    data = tmp_path / "idx"
    data.mkdir()
    write_idx(data / "t10k-images-idx3-ubyte.gz", x)
    write_idx(data / "t10k-labels-idx1-ubyte.gz", y.astype(np.uint8))
    out = run_example("mnist.py", str(data), *TINY, "--export", "exported", cwd=tmp_path)
    assert "fit on 480 images of (8, 8), test on 120" in out
    assert float(out.split("test accuracy")[1].split(",")[0]) > 0.3
    assert (tmp_path / "exported" / "saved_model.pb").is_file()


def test_mnist_refuses_to_overwrite_an_export_before_fitting(tmp_path):
    (tmp_path / "exported").mkdir()
    (tmp_path / "exported" / "mine.txt").write_text("keep me")
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "mnist.py"), str(tmp_path), "--export", "exported"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "pass --overwrite" in done.stderr
    assert (tmp_path / "exported" / "mine.txt").read_text() == "keep me"
    assert not (tmp_path / "autoarch_projects").exists()


def test_export_and_serve(tmp_path):
    out = run_example("export_and_serve.py", *TINY, "--export", "served", cwd=tmp_path)
    assert "serving_default: 100 images served, same labels as predict" in out
    assert "serve_uint8: 100 images served, same labels as predict" in out


def test_custom_search_space(tmp_path):
    out = run_example("custom_search_space.py", *TINY, cwd=tmp_path)
    used = out.split("operations used: ")[1].split(";")[0]
    assert set(ast.literal_eval(used)) <= {"max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3"}
    hyperparameters = json.loads(
        (tmp_path / "autoarch_projects" / "custom_search_space" / "trial_0" / "trial.json").read_text()
    )["hyperparameters"]["values"]
    assert hyperparameters["cutout"] is False
    assert 1e-3 <= hyperparameters["learning_rate"] <= 1e-2


def test_transfer_genotype(tmp_path):
    out = run_example("transfer_genotype.py", *TINY, cwd=tmp_path)
    assert "classes [5, 6, 7, 8, 9]" in out
    target = tmp_path / "autoarch_projects" / "transfer_target"
    source = tmp_path / "autoarch_projects" / "transfer_source"
    # The target trained the source's genotype and ran no search (no alpha history).
    assert json.loads((target / "trial_0" / "genotype.json").read_text()) == json.loads(
        (source / "best_genotype.json").read_text()
    )
    assert not (target / "trial_0" / "alphas.json").exists()


def test_notebook_runs_and_shows_its_pictures(tmp_path):
    import nbclient
    import nbformat

    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    (parameters,) = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    parameters.source = f"MAX_TRIALS = 1\nSEARCH_SPACE = {TINY_SPACE!r}\nDIRECTORY = 'projects'"
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    pictures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(pictures) >= 3  # trial scores, alpha history, predictions
    rich = [output.data["text/html"] for output in outputs if "text/html" in output.get("data", {})]
    assert sum("data:image/png;base64," in html for html in rich) >= 2  # the estimator and the genotype
    assert (tmp_path / "projects" / "notebook" / "final" / "model.keras").is_file()

"""End to end: the ``autoarch`` command line on a folder of digit PNGs.

One real ``autoarch fit`` runs in a subprocess for the whole module (the slow
part); ``predict`` and ``show`` use its project and export. Refusals are checked
through ``main`` in-process (exit code, one line on stderr, nothing written) and,
for a few, through the real command.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import autoarch
from autoarch import cli

from ..test_latency import synthetic_table
from autoarch.inputs import read_image_file

from .conftest import TINY_SPACE

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# `import autoarch` (run before the CLI's main) imports TensorFlow, whose absl log
# lines at import ignore TF_CPP_MIN_LOG_LEVEL; they are not the CLI's own output.
TF_IMPORT_LOG = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] .*)$"
)


def run_cli(*args, cwd):
    """Run the real command (``python -m autoarch ARGS``); returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "autoarch", *map(str, args)],
        cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300,
    )


def own_stderr_lines(stderr):
    """The lines of ``stderr`` written by the CLI, not by TensorFlow's import."""
    return [line for line in stderr.splitlines() if line.strip() and not TF_IMPORT_LOG.match(line)]


def write_png(path, image, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(image)
    (picture.convert(mode) if mode else picture).save(path)


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory, digits_uint8):
    """``data/digit_<d>/`` with 30 gray 8x8 PNGs each (one of them 16x16 RGB), and
    ``new/``: 5 other digits as 16x16 RGB PNGs and a JPEG, to predict."""
    x, y, x_test, y_test = digits_uint8
    root = tmp_path_factory.mktemp("cli")
    for digit in range(10):
        for index in np.flatnonzero(y == digit)[:30]:
            write_png(root / "data" / f"digit_{digit}" / f"{index:03d}.png", x[index])
        big = np.kron(x[np.flatnonzero(y == digit)[30]], np.ones((2, 2), np.uint8))
        write_png(root / "data" / f"digit_{digit}" / "zz_big.png", big, "RGB")
    for index in range(5):
        big = np.kron(x_test[index], np.ones((2, 2), np.uint8))
        write_png(root / "new" / f"{index}_is_{y_test[index]}.png", big, "RGB")
    Image.fromarray(x_test[5]).save(root / "new" / f"5_is_{y_test[5]}.jpg", quality=95)
    return root


@pytest.fixture(scope="module")
def fitted(digits_folder):
    """One ``autoarch fit`` (1 trial, tiny settings from a JSON file, 20 s time limit: no final fit)."""
    space = {**TINY_SPACE, "learning_rate": {"min": 0.003, "max": 0.005}}
    (digits_folder / "space.json").write_text(json.dumps(space))
    synthetic_table().save(str(digits_folder / "phone.json"))  # a latency table "measured on a phone"
    result = run_cli(
        "fit", "data", "--max-trials", "1", "--time-limit", "20", "--seed", "0", "--tuner", "random",
        "--search-space", "space.json", "--image-size", "8", "--project", "runs/digits",
        "--max-latency-ms", "1000", "--latency-target", "phone.json",
        "--export", "model.keras", "--quiet", cwd=digits_folder,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return digits_folder, result


@pytest.mark.slow
def test_fit_searches_and_exports(fitted):
    root, result = fitted
    assert "Traceback" not in result.stderr and own_stderr_lines(result.stderr) == []
    project = root / "runs" / "digits"
    assert (project / "autoarch.json").is_file() and (project / "final" / "model.keras").is_file()
    assert (root / "model.keras").read_bytes()[:2] == b"PK"  # a .keras (zip) archive
    out = result.stdout
    assert "trials: 1 completed, 0 failed" in out
    assert re.search(r"best trial \S+: holdout val_accuracy [01]\.\d{4}, [\d,]+ parameters", out)
    assert f"project: {project}" in out and f"exported (keras): {root / 'model.keras'}" in out
    assert "normal[" in out and "reduce[" in out
    # The final model's latency, estimated by the phone's table (nothing here can measure a phone).
    assert re.search(r"latency: [\d.]+ ms per image estimated \(budget 1000 ms, on a phone\)", out), out
    restored = autoarch.load(project)
    assert tuple(restored.image_shape_) == (8, 8, 1)
    assert list(restored.classes_) == [f"digit_{d}" for d in range(10)]
    settings = restored.best_hyperparameters_
    assert settings["init_channels"] == TINY_SPACE["init_channels"] and settings["cells"] == TINY_SPACE["cells"]
    assert 0.003 <= settings["learning_rate"] <= 0.005  # {"min", "max"} became a range


@pytest.mark.slow
def test_predict_prints_a_line_per_image(fitted):
    root, _ = fitted
    result = run_cli("predict", "model.keras", "new", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    files = sorted(os.path.join("new", name) for name in os.listdir(root / "new"))
    assert [line.split("\t")[0] for line in lines] == files
    for line in lines:
        _, label, probability = line.split("\t")
        assert label in {f"digit_{d}" for d in range(10)}
        assert 0.0 <= float(probability) <= 1.0


@pytest.mark.slow
def test_predict_json_matches_the_library(fitted):
    root, _ = fitted
    names = sorted(os.listdir(root / "new"))
    files = [os.path.join("new", names[0]), os.path.join("new", next(n for n in names if n.endswith(".jpg")))]
    result = run_cli("predict", "runs/digits", *files, "--json", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    assert document["classes"] == [f"digit_{d}" for d in range(10)]
    assert [row["file"] for row in document["predictions"]] == files
    # the same images, resized to 8x8 and made gray, through the library
    estimator = autoarch.load(root / "runs" / "digits")
    images = np.stack([read_image_file(root / file, (8, 8), 1) for file in files])
    expected = estimator.predict_proba(images)
    for row, proba in zip(document["predictions"], expected):
        probabilities = np.array([row["probabilities"][c] for c in document["classes"]])
        assert ((probabilities >= 0) & (probabilities <= 1)).all()
        np.testing.assert_allclose(probabilities, proba, atol=1e-5)
        assert row["label"] == document["classes"][int(np.argmax(proba))]
        assert row["probability"] == pytest.approx(probabilities.max())


@pytest.mark.slow
def test_show_lists_trials_and_plots_the_genotype(fitted):
    root, _ = fitted
    result = run_cli("show", "runs/digits", "--plot", "pictures/cells.png", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    estimator = autoarch.load(root / "runs" / "digits")
    row = estimator.results_[0]
    out = result.stdout
    header = r"^trial +status +val_accuracy +parameters +flops +ms meas/est +seconds +genotype / reason$"
    assert re.search(header, out, re.M), out  # the fit had a latency budget: its column is shown
    assert f"- / {row['latency_estimate_ms']:.3g}" in out  # nothing measured here, the phone's estimate
    trial_line = next(line for line in out.splitlines() if line.startswith(str(row["trial_id"])))
    assert "COMPLETED" in trial_line and f"{row['score']:.4f}" in trial_line
    assert trial_line.endswith(autoarch.Genotype.from_json(row["genotype"]).summary())
    assert str(estimator.best_genotype_) in out
    picture = (root / "pictures" / "cells.png").read_bytes()
    assert picture.startswith(PNG_SIGNATURE) and len(picture) > 5000


@pytest.mark.slow
def test_show_json(fitted, capsys):
    root, _ = fitted
    assert cli.main(["show", str(root / "model.keras"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["estimator"] == "ImageClassifier" and document["image_shape"] == [8, 8, 1]
    assert [row["status"] for row in document["results"]] == ["COMPLETED"]
    assert autoarch.Genotype.from_dict(document["best_genotype"]).nodes == TINY_SPACE["nodes"]


@pytest.mark.slow
def test_help_of_the_real_command(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert all(command in result.stdout for command in ("fit", "predict", "show"))


@pytest.mark.parametrize("command", ["fit", "predict", "show"])
def test_help_of_each_command(command, capsys):
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: autoarch {command}")
    if command == "fit":
        for option in ("--max-trials", "--time-limit", "--project", "--export", "--image-size",
                       "--search-space", "--seed", "--tuner", "--overwrite", "--quiet", "--verbose"):
            assert option in out
        assert "default: the size of the first image" in " ".join(out.split())


def test_the_tuner_choices_are_the_library_ones():
    from autoarch.tuning.oracles import TUNERS

    assert set(cli.TUNERS) == set(TUNERS)


# ------------------------------------------------------------------ refusals


@pytest.fixture
def bad_inputs(tmp_path, digits_uint8):
    """A few folders that are not usable image folders, and one tiny usable one."""
    x, _, _, _ = digits_uint8
    (tmp_path / "empty").mkdir()
    write_png(tmp_path / "flat" / "0.png", x[0])  # images, but no class subfolders
    for label in ("a", "b"):
        for index in range(3):
            write_png(tmp_path / "small" / label / f"{index}.png", x[index])
    (tmp_path / "broken" / "a").mkdir(parents=True)
    write_png(tmp_path / "broken" / "a" / "0.png", x[0])
    (tmp_path / "broken" / "a" / "1.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "empty_table.json").write_text('{"fingerprint": {"target": "a phone"}}')
    return tmp_path


def assert_refused(code, capsys, command, pattern, folder):
    """Exit code 2, one ``autoarch COMMAND: error:`` line on stderr matching ``pattern``, nothing written."""
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith(f"autoarch {command}: error: "), lines
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in captured.err
    assert not (folder / "project").exists() and not (folder / "image_classifier").exists()


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["nowhere"], r"DATA_DIR 'nowhere' does not exist"),
        (["notes.txt"], r"is not a folder"),
        (["empty"], r"'empty' holds no images: expected one subfolder per class"),
        (["flat"], r"'flat' holds no images: expected one subfolder per class"),
        (["broken"], r"cannot read '.*1\.png' as an image: Unknown image file format"),
        (["small", "--max-trials", "0"], r"max_trials must be an integer >= 1, got 0"),
        (["small", "--max-trials", "many"], r"argument --max-trials: invalid int value: 'many'"),
        (["small", "--image-size", "8x"], r"argument --image-size: expected SIZE or HEIGHTxWIDTH"),
        (["small", "--tuner", "grid"], r"argument --tuner: invalid choice: 'grid'"),
        (["small", "--search-space", "{cells: 3}"], r"--search-space is not valid JSON"),
        (["small", "--search-space", "space.json"], r"expected a JSON object or the path of a JSON file"),
        (["small", "--search-space", '{"cells": {"low": 2}}'], r'a range is \{"min": LOW, "max": HIGH\}'),
        (["small", "--search-space", '{"colour": 3}'], r"search_space: unknown setting 'colour'"),
        (["small", "--export", "missing/model.keras"], r"the directory .*missing.* does not exist"),
        (["small", "--export", "notes.txt.keras"], None),
        (["small", "--validation-split", "0.9"], r"validation_split must be in \(0, 0.5\], got 0.9"),
        (["small", "--max-flops", "0"], r"max_flops must be a number of multiply-adds >= 1 or None, got 0"),
        (["small", "--max-latency-ms", "0"], r"max_latency_ms must be a number of milliseconds > 0 or None, got 0.0"),
        (["small", "--max-latency-ms", "1", "--latency-target", "phone.json"],
         r"--latency-target 'phone.json': expected one of tflite-cpu or the JSON file of a latency table"),
        (["small", "--max-latency-ms", "1", "--latency-target", "notes.txt"], r"'notes.txt' is not a latency table"),
        (["small", "--max-latency-ms", "1", "--latency-target", "empty_table.json"],
         r"the latency table lacks \d+ operation entries and \d+ network sizes"),
    ],
)
def test_fit_refuses_bad_input_before_writing(bad_inputs, capsys, monkeypatch, args, pattern):
    monkeypatch.chdir(bad_inputs)
    if pattern is None:  # an export that exists already, without --overwrite
        (bad_inputs / "notes.txt.keras").write_text("an earlier export")
        pattern = r"--export 'notes.txt.keras' already exists: pass --overwrite to replace it"
    before = sorted(os.listdir(bad_inputs))
    code = cli.main(["fit", *args, "--project", "project", "--quiet"])
    assert_refused(code, capsys, "fit", pattern, bad_inputs)
    assert sorted(os.listdir(bad_inputs)) == before


@pytest.mark.parametrize(
    "command, target, pattern",
    [
        ("predict", "nowhere", r"MODEL 'nowhere' does not exist"),
        ("predict", "empty", r"no autoarch model at '.*empty.*model\.keras'"),
        ("predict", "flat", r"no autoarch model at '.*flat.*model\.keras'"),
        ("predict", "notes.txt", r"'notes.txt' is not a \.keras archive"),
        ("show", "nowhere", r"PROJECT_OR_MODEL 'nowhere' does not exist"),
        ("show", "empty", r"no autoarch model at '.*empty.*model\.keras'"),
        ("show", "small", r"no autoarch model at '.*small.*model\.keras'"),
        ("show", "notes.txt", r"'notes.txt' is not a \.keras archive"),
    ],
)
def test_predict_and_show_refuse_what_is_not_a_model(bad_inputs, capsys, monkeypatch, command, target, pattern):
    monkeypatch.chdir(bad_inputs)
    before = sorted(os.listdir(bad_inputs))
    extra = ["flat/0.png"] if command == "predict" else []
    assert_refused(cli.main([command, target, *extra]), capsys, command, pattern, bad_inputs)
    assert sorted(os.listdir(bad_inputs)) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    "images, pattern",
    [
        (["nowhere.png"], r"IMAGE 'nowhere.png' does not exist"),
        (["empty"], r"the folder 'empty' holds no image files"),
        (["flat/0.png", "broken/a/1.png"], r"cannot read 'broken/a/1.png' as an image"),
    ],
)
def test_predict_refuses_bad_images(fitted, bad_inputs, capsys, monkeypatch, images, pattern):
    root, _ = fitted
    monkeypatch.chdir(bad_inputs)
    code = cli.main(["predict", str(root / "model.keras"), *images])
    assert_refused(code, capsys, "predict", pattern, bad_inputs)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, pattern",
    [
        (["fit", "flat", "--project", "project"], r"^autoarch fit: error: 'flat' holds no images"),
        (["show", "nowhere"], r"^autoarch show: error: PROJECT_OR_MODEL 'nowhere' does not exist$"),
    ],
)
def test_the_real_command_refuses_in_one_line(bad_inputs, args, pattern):
    before = sorted(os.listdir(bad_inputs))
    result = run_cli(*args, cwd=bad_inputs)
    assert result.returncode == 2
    lines = own_stderr_lines(result.stderr)
    assert len(lines) == 1 and re.search(pattern, lines[0]), result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert sorted(os.listdir(bad_inputs)) == before

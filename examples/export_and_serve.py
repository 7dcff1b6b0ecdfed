"""Export a fitted classifier as a SavedModel and serve it where autoarch is not installed.

Run::

    python examples/export_and_serve.py [--max-trials 1] [--export served_digits]

Fits `autoarch.ImageClassifier` on scikit-learn's digits, exports a
SavedModel, then starts a fresh Python process that imports only TensorFlow
(the script checks that autoarch is never imported there), loads the
SavedModel with ``tf.saved_model.load`` and feeds it raw images through its
two signatures: ``serving_default`` (float32 pixels, as given to ``fit``) and
``serve_uint8`` (uint8 pixels). The answers must match ``predict_proba`` and
``predict`` of the estimator, or the script exits with an error.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# What a serving process runs: TensorFlow and numpy, nothing of autoarch.
SERVER = """
import sys
import numpy as np
import tensorflow as tf

model_dir, images_path, out_path = sys.argv[1:]
model = tf.saved_model.load(model_dir)
images = np.load(images_path)
serve = model.signatures["serving_default"]
serve_uint8 = model.signatures["serve_uint8"]
floats = serve(images=tf.constant(images, tf.float32))["output_0"]
uint8s = serve_uint8(images=tf.constant(images, tf.uint8))["output_0"]
assert "autoarch" not in sys.modules, "the server imported autoarch"
np.savez(out_path, float32=floats.numpy(), uint8=uint8s.numpy())
"""


def serve_in_fresh_process(model_dir, images):
    """Probabilities for ``images`` ``(n, h, w, c)`` from a process that knows only TensorFlow."""
    with tempfile.TemporaryDirectory() as scratch:
        images_path, out_path = os.path.join(scratch, "images.npy"), os.path.join(scratch, "out.npz")
        import numpy as np

        np.save(images_path, images)
        subprocess.run([sys.executable, "-c", SERVER, model_dir, images_path, out_path], check=True)
        with np.load(out_path) as served:
            return served["float32"], served["uint8"]


def main(argv=None):
    """Fit, export, serve in a fresh process, and compare with ``predict``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-trials", type=int, default=1)
    parser.add_argument("--export", default="served_digits", help="where the SavedModel goes")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --export path")
    parser.add_argument("--directory", default="autoarch_projects", help="where the project folder goes")
    parser.add_argument("--search-space", type=json.loads, default=None, help="JSON, e.g. '{\"cells\": 4}'")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if os.path.exists(args.export) and not args.overwrite:
        parser.error(f"{args.export!r} exists; pass --overwrite to replace it")

    import numpy as np
    from sklearn.datasets import load_digits

    import autoarch

    digits = load_digits()
    # uint8 pixels 0..255, as images usually come; the model normalises them itself.
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    x_fit, y_fit, x_new = images[:1200], digits.target[:1200], images[1200:1300]

    clf = autoarch.ImageClassifier(
        max_trials=args.max_trials,
        seed=args.seed,
        directory=args.directory,
        project_name="export_and_serve",
        overwrite=True,
        search_space=args.search_space,
        verbose=1,
    )
    clf.fit(x_fit, y_fit)
    clf.export(args.export, format="saved_model", overwrite=args.overwrite)
    print(f"SavedModel written to {args.export}")

    # The signatures take (n, h, w, c): add the channel axis the digits lack.
    from_floats, from_uint8 = serve_in_fresh_process(args.export, x_new[..., np.newaxis])
    expected = clf.predict_proba(x_new)
    for name, served in (("serving_default", from_floats), ("serve_uint8", from_uint8)):
        gap = float(np.max(np.abs(served - expected)))
        labels = clf.classes_[served.argmax(axis=1)]
        if gap > 1e-4 or not np.array_equal(labels, clf.predict(x_new)):
            sys.exit(f"{name}: the served model disagrees with predict (largest gap {gap:.2e})")
        print(f"{name}: {len(x_new)} images served, same labels as predict, largest gap {gap:.1e}")
    return gap


if __name__ == "__main__":
    main()

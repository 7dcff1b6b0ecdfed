"""Export a fitted model for serving: TensorFlow SavedModel, ``.keras`` file or TFLite.

The exported model is the estimator's ``model_``: a `keras.Model` that takes raw
images as float32 ``(batch, height, width, channels)`` (its preprocessing, such as
normalisation, is inside it) and returns class probabilities or regression values.

Formats:

- ``"saved_model"``: a TensorFlow SavedModel directory, loadable with
  ``tf.saved_model.load(path)`` by a program that needs neither Keras nor
  autoarch (TF-Serving, TensorFlow in another language, ...). Endpoints:

  - ``serve`` (also the ``serving_default`` signature): float32 images
    ``[None, h, w, c]`` to the model output;
  - ``serve_uint8``: the same for uint8 images, cast to float32 inside.

  Each signature takes one input named ``images`` and returns ``{"output_0": ...}``;
  images of another shape (``[n, h, w]`` without the channel axis too) are
  refused with TensorFlow's ``InvalidArgumentError`` naming both shapes.
- ``"keras"``: a ``.keras`` file that ``keras.saving.load_model(path)`` loads back
  after ``import autoarch`` (every custom layer is registered), with optional
  JSON metadata stored in the archive as ``autoarch.json`` (see
  `read_keras_metadata`).
- ``"tflite"``: a ``.tflite`` flat buffer with builtin operations only, run by
  ``tf.lite.Interpreter`` or LiteRT. Its ``serving_default`` signature takes
  float32 ``images`` and returns ``output_0``.

Every export is written to a temporary sibling of the destination and renamed into
place at the end, so a failure never leaves a half-written export, and an existing
destination is only replaced (with ``overwrite=True``) once the new one is
complete.

Example:
    >>> from autoarch.export import export_model
    >>> export_model(estimator.model_, "exports/digits", format="saved_model")
    >>> import tensorflow as tf
    >>> serve = tf.saved_model.load("exports/digits").signatures["serving_default"]
    >>> probabilities = serve(images=tf.constant(images))["output_0"]
"""

import contextlib
import errno
import json
import os
import shutil
import tempfile
import zipfile

import keras

__all__ = [
    "EXPORT_FORMATS",
    "check_export_path",
    "export_keras",
    "export_model",
    "export_saved_model",
    "export_tflite",
    "read_keras_metadata",
    "tflite_flat_buffer",
    "tflite_model",
]

EXPORT_FORMATS = ("saved_model", "keras", "tflite")
"""The formats accepted by `export_model`."""

METADATA_MEMBER = "autoarch.json"
"""Name of the metadata member that `export_keras` adds to a ``.keras`` archive."""

_EXTENSIONS = {"keras": ".keras", "tflite": ".tflite"}


def check_export_path(path, format, overwrite=False):
    """Check that ``format`` is known and that an export can be written to ``path``.

    Nothing is created or changed; the export functions call this before any work.

    Args:
        path: destination (``str`` or path-like): a directory for ``"saved_model"``,
            a file ending in ``.keras`` or ``.tflite`` for the other formats.
        format: one of `EXPORT_FORMATS`.
        overwrite: allow ``path`` to exist already (it is replaced once the new
            export is complete).

    Returns:
        ``path`` as a ``str``.

    Raises:
        ValueError: unknown ``format``, or a ``path`` without the extension the
            format needs.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        FileNotFoundError: the directory that should contain ``path`` does not exist.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}, got {format!r}")
    path = os.fspath(path)
    if not path:
        raise ValueError("path must not be empty")
    extension = _EXTENSIONS.get(format)
    if extension is not None and not path.endswith(extension):
        raise ValueError(
            f"format={format!r} needs a path ending with {extension!r}, got {path!r}"
        )
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(
            f"{path!r} already exists; pass overwrite=True to replace it"
        )
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(
            f"the directory {parent!r} that should contain {path!r} does not exist"
        )
    return path


def export_saved_model(model, path, overwrite=False):
    """Export ``model`` as a TensorFlow SavedModel directory.

    The SavedModel has the endpoints ``serve`` (also the ``serving_default``
    signature), which takes float32 raw images ``[None, h, w, c]``, and
    ``serve_uint8``, which takes uint8 images of the same shape. Both return the
    model output in inference mode, and refuse images of another shape (a
    channel-less ``[n, h, w]`` batch included) with an ``InvalidArgumentError``
    that names both shapes. It loads with ``tf.saved_model.load(path)``
    without Keras or autoarch.

    Args:
        model: a `keras.Model` with one image input, e.g. a fitted estimator's
            ``model_``.
        path: the directory to create.
        overwrite: replace an existing ``path`` (only after the export succeeded).

    Returns:
        ``path`` as a ``str``.

    Raises:
        ValueError: ``model`` does not have exactly one input with a known shape.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        FileNotFoundError: the parent directory of ``path`` does not exist.
    """
    path = check_export_path(path, "saved_model", overwrite)
    archive = _export_archive(model, uint8=True, check_shape=True)
    with _staging(path) as staging:
        staged = os.path.join(staging, os.path.basename(path))
        archive.write_out(staged, verbose=False)
        _commit(staged, path, staging, overwrite)
    return path


def export_keras(model, path, metadata=None, overwrite=False):
    """Save ``model`` as a ``.keras`` file, with optional metadata inside the archive.

    The file loads back with ``keras.saving.load_model(path)`` after
    ``import autoarch``, with no ``custom_objects``.

    Args:
        model: the `keras.Model` to save.
        path: the file to create; must end with ``.keras``.
        metadata: a JSON-serialisable dict (class names, genotype, scores, ...)
            stored as the archive member ``autoarch.json``; read it back with
            `read_keras_metadata`.
        overwrite: replace an existing ``path`` (only after the save succeeded).

    Returns:
        ``path`` as a ``str``.

    Raises:
        TypeError: ``metadata`` is not a dict or not JSON-serialisable.
        ValueError: ``path`` does not end with ``.keras``.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        FileNotFoundError: the parent directory of ``path`` does not exist.
    """
    path = check_export_path(path, "keras", overwrite)
    metadata_json = None
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
        metadata_json = json.dumps(metadata, indent=2, sort_keys=True)
    with _staging(path) as staging:
        staged = os.path.join(staging, os.path.basename(path))
        model.save(staged)
        if metadata_json is not None:
            with zipfile.ZipFile(staged, "a", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(METADATA_MEMBER, metadata_json)
        _commit(staged, path, staging, overwrite)
    return path


def read_keras_metadata(path):
    """Return the metadata that `export_keras` stored in a ``.keras`` file.

    Args:
        path: a ``.keras`` file.

    Returns:
        The metadata dict, or None if the file has none.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a ``.keras`` (zip) archive.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            if METADATA_MEMBER not in archive.namelist():
                return None
            text = archive.read(METADATA_MEMBER).decode("utf-8")
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path!r} is not a .keras archive: {error}") from error
    return json.loads(text)


def export_tflite(model, path, overwrite=False):
    """Convert ``model`` to a TFLite flat buffer and write it to ``path``.

    The conversion goes through a temporary SavedModel and
    ``tf.lite.TFLiteConverter.from_saved_model``, the path Keras 3 itself uses,
    and keeps to TFLite's builtin operations (no Flex delegate needed). The result
    has one signature, ``serving_default``, taking float32 ``images``
    ``[None, h, w, c]`` and returning ``output_0``.

    Args:
        model: a `keras.Model` with one image input.
        path: the file to create; must end with ``.tflite``.
        overwrite: replace an existing ``path`` (only after the conversion succeeded).

    Returns:
        ``path`` as a ``str``.

    Raises:
        ValueError: ``path`` does not end with ``.tflite``, or ``model`` does not
            have exactly one input with a known shape.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        FileNotFoundError: the parent directory of ``path`` does not exist.
    """
    path = check_export_path(path, "tflite", overwrite)
    flat_buffer = tflite_model(model)
    with _staging(path) as staging:
        staged = os.path.join(staging, os.path.basename(path))
        with open(staged, "wb") as file:
            file.write(flat_buffer)
        _commit(staged, path, staging, overwrite)
    return path


def tflite_model(model):
    """The TFLite flat buffer (bytes) that `export_tflite` writes for ``model``."""
    return tflite_flat_buffer(_export_archive(model, uint8=False), ["serving_default"])


def tflite_flat_buffer(archive, signature_keys):
    """Convert the endpoints ``signature_keys`` of a `keras.export.ExportArchive` to one TFLite flat buffer.

    Builtin operations only, as `export_tflite` writes them; the flat buffer
    has one signature per key (`autoarch.latency` times many small models from
    one conversion).
    """
    import tensorflow as tf

    # Converting a concrete function with the model as trackable_obj keeps the
    # Keras 3 variables as uninitialised resources (the interpreter returns NaN),
    # so convert from a SavedModel as Keras's own LiteRT export does.
    with tempfile.TemporaryDirectory(prefix="autoarch-tflite-") as saved_model_dir:
        archive.write_out(saved_model_dir, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=list(signature_keys))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()


def export_model(model, path, format="saved_model", metadata=None, overwrite=False):
    """Export ``model`` to ``path`` in one of `EXPORT_FORMATS`.

    Args:
        model: a `keras.Model` with one image input, e.g. a fitted estimator's
            ``model_``.
        path: the destination: a directory for ``"saved_model"``, a file ending in
            ``.keras`` or ``.tflite`` for the other formats.
        format: ``"saved_model"`` (`export_saved_model`), ``"keras"``
            (`export_keras`) or ``"tflite"`` (`export_tflite`).
        metadata: a JSON-serialisable dict stored with the ``"keras"`` format;
            must be None for the other formats.
        overwrite: replace an existing ``path`` (only after the export succeeded).

    Returns:
        ``path`` as a ``str``.

    Raises:
        ValueError: unknown ``format``, wrong extension, metadata with a format
            that cannot hold it, or a model without exactly one input.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        FileNotFoundError: the parent directory of ``path`` does not exist.
    """
    path = check_export_path(path, format, overwrite)
    if format == "keras":
        return export_keras(model, path, metadata=metadata, overwrite=overwrite)
    if metadata is not None:
        raise ValueError(f"metadata can only be stored with format='keras', not {format!r}")
    if format == "saved_model":
        return export_saved_model(model, path, overwrite=overwrite)
    return export_tflite(model, path, overwrite=overwrite)


def _input_shape(model):
    """Return the ``(None, ...)`` input shape of a one-input model, or raise ValueError."""
    inputs = getattr(model, "inputs", None)
    if not isinstance(model, keras.Model) or not inputs or len(inputs) != 1:
        raise ValueError(
            "export needs a built keras.Model with exactly one input (raw images), got "
            f"{type(model).__name__} with {len(inputs) if inputs else 0} inputs"
        )
    shape = tuple(inputs[0].shape)
    if len(shape) < 2 or any(dim is None for dim in shape[1:]):
        raise ValueError(f"the model input needs a known (batch, ...) shape, got {shape}")
    return (None, *shape[1:])


def _export_archive(model, uint8, check_shape=False):
    """Return a `keras.export.ExportArchive` with a float32 ``serve`` endpoint.

    The first endpoint also becomes the ``serving_default`` signature. With
    ``uint8``, a ``serve_uint8`` endpoint casts uint8 images to float32 first.
    With ``check_shape``, every endpoint refuses images of another shape with
    TensorFlow's ``Shape of tensor images [16,8,8] is not compatible with
    expected shape [?,8,8,1]``: a loaded SavedModel's signatures do not check
    their inputs, and a channel-less batch went through to a wrong answer.
    """
    import tensorflow as tf

    shape = _input_shape(model)

    def checked(images):
        return tf.ensure_shape(images, shape) if check_shape else images

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda images: model(checked(images), training=False),
        input_signature=[tf.TensorSpec(shape, tf.float32, name="images")],
    )
    if uint8:
        archive.add_endpoint(
            "serve_uint8",
            lambda images: model(keras.ops.cast(checked(images), "float32"), training=False),
            input_signature=[tf.TensorSpec(shape, tf.uint8, name="images")],
        )
    return archive


@contextlib.contextmanager
def _staging(path):
    """Yield a hidden temporary directory next to ``path``; remove it on exit.

    Being in the same directory keeps the final rename on one file system, hence
    atomic.
    """
    directory = tempfile.mkdtemp(
        prefix=f".{os.path.basename(path)}.autoarch-tmp-",
        dir=os.path.dirname(os.path.abspath(path)),
    )
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _commit(staged, path, staging, overwrite):
    """Rename the finished export ``staged`` to ``path``, so that ``path`` is never half written.

    A file replaces an existing one in one atomic rename. A directory (a
    SavedModel) is swapped with the existing one in one atomic exchange where
    the system has one (Linux's ``renameat2``); elsewhere the existing
    directory is first moved into ``staging`` (deleted with it afterwards) and
    moved back if the final rename fails. Either way a process killed at any
    moment leaves at ``path`` the old export or the new one, whole.
    """
    if os.path.lexists(path):
        if not overwrite:
            raise FileExistsError(
                f"{path!r} already exists; pass overwrite=True to replace it"
            )
        if not os.path.isdir(staged):
            os.replace(staged, path)
            return
        if _exchange(staged, path):
            return  # the old export is now at ``staged``, inside ``staging``
        previous = os.path.join(staging, ".previous")
        os.rename(path, previous)
        try:
            os.rename(staged, path)
        except BaseException:
            os.rename(previous, path)
            raise
    else:
        os.rename(staged, path)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first, second):
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes
    import ctypes.util

    try:
        renameat2 = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # this kernel or file system cannot exchange
    raise OSError(error, os.strerror(error), second)

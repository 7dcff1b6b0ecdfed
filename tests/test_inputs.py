"""`autoarch.inputs`: arrays, lists, datasets and image folders read into one `ImageData`."""

import numpy as np
import pytest
import tensorflow as tf

from autoarch.inputs import (
    ImageData, image_folder_dataset, read_image_file, read_image_folder, read_images, read_training_data,
)

NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.fixture(scope="module")
def small():
    """120 digits as uint8 ``(n, 8, 8)`` images, int labels and string labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = np.round(data.images[:120] * (255 / 16)).astype(np.uint8)
    y = data.target[:120].astype(np.int64)
    return x, y, NAMES[y]


def numpy_stats(images):
    images = np.asarray(images, np.float64)
    if images.ndim == 3:
        images = images[..., None]
    return images.mean(axis=(0, 1, 2)), images.var(axis=(0, 1, 2))


def collect(dataset):
    images, targets = zip(*dataset.as_numpy_iterator())
    return np.stack(images), np.stack(targets)


# ------------------------------------------------------------------ arrays and lists


def test_arrays_get_a_channel_axis_and_uint8_is_flagged_as_integer(small):
    x, y, _ = small
    data = read_training_data(x, y)
    assert isinstance(data, ImageData)
    assert data.image_shape == (8, 8, 1) and data.images.shape == (120, 8, 8, 1)
    assert data.integer_pixels is True and data.images.dtype == np.uint8
    assert data.stream is None and len(data) == 120
    np.testing.assert_array_equal(data.images[..., 0], x)
    np.testing.assert_array_equal(data.labels, y)


def test_float_pixels_are_not_integer(small):
    x, y, _ = small
    data = read_training_data(x.astype(np.float32) / 255, y)
    assert data.integer_pixels is False and data.images.dtype == np.float32


def test_a_list_of_arrays(small):
    x, y, _ = small
    data = read_training_data(list(x), list(y))
    assert data.images.shape == (120, 8, 8, 1) and data.integer_pixels
    np.testing.assert_array_equal(data.images[..., 0], x)
    np.testing.assert_array_equal(data.labels, y)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_mean_and_variance_per_channel_equal_numpys(channels):
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[10.0, -3.0, 0.5, 100.0][:channels], scale=[1.0, 4.0, 0.1, 20.0][:channels], size=(40, 9, 11, channels))
    data = read_training_data(x.astype(np.float32), rng.integers(0, 2, 40))
    mean, variance = numpy_stats(x.astype(np.float32))
    assert data.mean.shape == data.variance.shape == (channels,)
    np.testing.assert_allclose(data.mean, mean, rtol=1e-9)
    np.testing.assert_allclose(data.variance, variance, rtol=1e-7)


def test_stats_of_uint8_images(small):
    x, y, _ = small
    data = read_training_data(x, y)
    mean, variance = numpy_stats(x)
    np.testing.assert_allclose(data.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(data.variance, variance, rtol=1e-9)


def test_y_is_required_for_arrays(small):
    x, _, _ = small
    with pytest.raises(ValueError, match=r"y is missing: expected one label per image of x"):
        read_training_data(x)


# ------------------------------------------------------------------ datasets


def make_dataset(x, labels, layout, channel_axis):
    images = x[..., None] if channel_axis else x
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if layout == "batches":
        dataset = dataset.batch(32)
    return dataset


LAYOUTS = [
    pytest.param(layout, channel_axis, labels, id=f"{layout}-{'hwc' if channel_axis else 'hw'}-{labels}")
    for layout in ("elements", "batches")
    for channel_axis in (False, True)
    for labels in ("int", "str")
]


@pytest.mark.parametrize("layout, channel_axis, labels", LAYOUTS)
def test_a_dataset_gives_the_same_labels_and_stats_as_the_arrays(small, layout, channel_axis, labels):
    x, y, names = small
    labels = y if labels == "int" else names
    arrays = read_training_data(x, labels)
    streamed = read_training_data(make_dataset(x, labels, layout, channel_axis))
    assert streamed.images is None and streamed.stream is not None
    assert streamed.image_shape == arrays.image_shape == (8, 8, 1)
    assert streamed.integer_pixels is True
    assert len(streamed) == 120
    np.testing.assert_array_equal(streamed.labels, labels)
    assert streamed.labels.dtype.kind == labels.dtype.kind
    np.testing.assert_allclose(streamed.mean, arrays.mean, rtol=1e-12)
    np.testing.assert_allclose(streamed.variance, arrays.variance, rtol=1e-9)


def test_a_dataset_of_one_hot_batches(small):
    x, y, _ = small
    one_hot = np.eye(10, dtype=np.float32)[y]
    data = read_training_data(tf.data.Dataset.from_tensor_slices((x[..., None], one_hot)).batch(16))
    np.testing.assert_array_equal(data.labels, one_hot)


@pytest.mark.parametrize("layout, channel_axis, labels", LAYOUTS)
def test_image_data_dataset_yields_exactly_the_chosen_samples(small, layout, channel_axis, labels):
    x, y, names = small
    labels = y if labels == "int" else names
    targets = (np.arange(120) * 7 % 13).astype(np.int32)  # encoded targets, unlike the labels
    chosen = np.sort(np.random.default_rng(1).choice(120, size=37, replace=False))
    for data in (read_training_data(x, labels), read_training_data(make_dataset(x, labels, layout, channel_axis))):
        images, got = collect(data.dataset(chosen, targets))
        assert images.dtype == np.float32 and images.shape == (37, 8, 8, 1)
        np.testing.assert_array_equal(images[..., 0], x[chosen].astype(np.float32))
        np.testing.assert_array_equal(got, targets[chosen])


def test_in_memory_dataset_keeps_the_order_of_the_indices(small):
    x, y, _ = small
    data = read_training_data(x, y)
    chosen = np.array([5, 3, 99, 0, 3])
    targets = np.arange(120, dtype=np.float32) / 2
    images, got = collect(data.dataset(chosen, targets))
    np.testing.assert_array_equal(images[..., 0], x[chosen])
    np.testing.assert_array_equal(got, targets[chosen])


def test_a_streamed_dataset_can_be_read_twice(small):
    x, y, _ = small
    data = read_training_data(make_dataset(x, y, "batches", False))
    first = collect(data.dataset(np.arange(120), y))
    second = collect(data.dataset(np.arange(120), y))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_a_dataset_with_y_is_refused(small):
    x, y, _ = small
    with pytest.raises(ValueError, match=r"x is a tf.data.Dataset, which must yield \(image, label\) pairs: y must be None"):
        read_training_data(make_dataset(x, y, "elements", True), y)


def test_a_dataset_without_labels_is_refused(small):
    x, _, _ = small
    with pytest.raises(ValueError, match=r"must yield \(image, label\) pairs, got elements"):
        read_training_data(tf.data.Dataset.from_tensor_slices(x))


def test_an_empty_dataset_is_refused(small):
    x, y, _ = small
    with pytest.raises(ValueError, match=r"expected at least one image, the dataset is empty"):
        read_training_data(make_dataset(x, y, "elements", True).take(0))


# ------------------------------------------------------------------ read_images


@pytest.mark.parametrize("pairs", [False, True])
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("channel_axis", [False, True])
def test_read_images_accepts_datasets(small, pairs, batched, channel_axis):
    x, y, _ = small
    images = x[..., None] if channel_axis else x
    dataset = tf.data.Dataset.from_tensor_slices((images, y) if pairs else images)
    if batched:
        dataset = dataset.batch(25)
    read = read_images(dataset, (8, 8, 1))
    assert read.dtype == np.float32 and read.shape == (120, 8, 8, 1)
    np.testing.assert_array_equal(read[..., 0], x.astype(np.float32))


def test_read_images_accepts_arrays_and_lists(small):
    x, _, _ = small
    for given in (x, x[..., None], list(x), x.astype(np.float64)):
        read = read_images(given, (8, 8, 1))
        assert read.dtype == np.float32 and read.shape == (120, 8, 8, 1)
        np.testing.assert_array_equal(read[..., 0], x)


@pytest.mark.parametrize(
    "images, got",
    [
        (np.zeros((3, 16, 16), np.uint8), r"\(16, 16, 1\)"),
        (np.zeros((3, 8, 8, 3), np.uint8), r"\(8, 8, 3\)"),
        (np.zeros((3, 8, 9, 1), np.uint8), r"\(8, 9, 1\)"),
    ],
)
def test_read_images_refuses_another_shape_naming_both(images, got):
    with pytest.raises(ValueError, match=r"expected images of shape \(8, 8, 1\) .*as in fit, got " + got):
        read_images(images, (8, 8, 1))
    with pytest.raises(ValueError, match=r"expected images of shape \(8, 8, 1\) .*as in fit, got " + got):
        read_images(tf.data.Dataset.from_tensor_slices(images).batch(2), (8, 8, 1))


# ------------------------------------------------------------------ image folders


@pytest.fixture
def image_folder(tmp_path, small):
    """Folder ``zero/`` (4 digits and a text file) and ``one/`` (3 digits and a 16x16 one)."""
    x, y, _ = small
    zeros, ones = x[y == 0][:4], x[y == 1][:4]
    root = tmp_path / "images"
    for label, images in (("zero", zeros), ("one", ones[:3])):
        (root / label).mkdir(parents=True)
        for i, image in enumerate(images):
            (root / label / f"{i}.png").write_bytes(tf.io.encode_png(image[..., None]).numpy())
    (root / "zero" / "notes.txt").write_text("not an image")
    big = np.repeat(np.repeat(ones[3], 2, axis=0), 2, axis=1)  # 16x16, each pixel twice
    (root / "one" / "z_big.PNG").write_bytes(tf.io.encode_png(big[..., None]).numpy())
    return root, zeros, ones


def test_read_image_folder(image_folder):
    root, zeros, ones = image_folder
    images, labels = read_image_folder(root)
    assert images.dtype == np.uint8 and images.shape == (8, 8, 8, 1)
    # Classes sorted by folder name, files by name; the text file is ignored.
    assert labels.tolist() == ["one"] * 4 + ["zero"] * 4
    assert labels.dtype.kind == "U"
    np.testing.assert_array_equal(images[:3, ..., 0], ones[:3])
    # The 16x16 image is resized to the first image's 8x8 (2x2 blocks of equal pixels: exact).
    np.testing.assert_array_equal(images[3, ..., 0], ones[3])
    np.testing.assert_array_equal(images[4:, ..., 0], zeros)


def test_read_training_data_reads_a_folder(image_folder):
    root, _, _ = image_folder
    data = read_training_data(str(root))
    assert data.image_shape == (8, 8, 1) and data.integer_pixels
    assert data.labels.tolist() == ["one"] * 4 + ["zero"] * 4
    with pytest.raises(ValueError, match=r"x is an image folder, whose subfolders are the labels: y must be None"):
        read_training_data(root, ["one"] * 4 + ["zero"] * 4)


def test_a_folder_streams_the_same_images_as_reading_it_and_keeps_its_fingerprint(image_folder):
    """Issue 15: fit keeps a folder's file names, not its images, and reads exactly what an in-memory read gives."""
    root, _, _ = image_folder
    images, labels = read_image_folder(root)
    streamed, in_memory = read_training_data(root), read_training_data(images, labels)
    assert streamed.images is None and streamed.stream is None and len(streamed.files) == 8 and streamed.reshuffles
    assert streamed.fingerprint == in_memory.fingerprint  # a project fitted from the folder before still resumes
    np.testing.assert_allclose(streamed.mean, in_memory.mean)
    np.testing.assert_allclose(streamed.variance, in_memory.variance)
    order = np.array([5, 0, 7, 3])
    got = collect(streamed.dataset(order, np.arange(8)))
    np.testing.assert_array_equal(got[0], images[order].astype(np.float32))
    np.testing.assert_array_equal(got[1], order)


def test_a_reshuffled_folder_dataset_takes_every_file_once_per_pass_in_a_new_order(image_folder):
    root, _, _ = image_folder
    data = read_training_data(root)
    passes = data.dataset(np.arange(8), np.arange(8), reshuffle=True, seed=0).batch(8).repeat(3)
    orders = [targets.tolist() for _, targets in passes.as_numpy_iterator()]
    assert all(sorted(order) == list(range(8)) for order in orders)
    assert len({tuple(order) for order in orders}) > 1


def test_an_image_folder_dataset_decodes_as_it_is_read_and_fit_reads_its_files(image_folder):
    root, _, _ = image_folder
    dataset = image_folder_dataset(root, image_size=(16, 16))
    images, labels = read_image_folder(root, image_size=(16, 16))
    assert dataset.element_spec[0].shape == (16, 16, 1) and int(dataset.cardinality()) == 8
    got = collect(dataset)
    np.testing.assert_array_equal(got[0], images)
    assert [label.decode() for label in got[1]] == labels.tolist()
    data = read_training_data(dataset)
    assert data.files is not None and data.image_shape == (16, 16, 1)
    assert data.fingerprint == read_training_data(images, labels).fingerprint


def test_a_missing_or_empty_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"expected an image folder with one subfolder per class, got '.*nowhere'"):
        read_image_folder(tmp_path / "nowhere")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "a" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"holds no images: expected one subfolder per class with image files"):
        read_image_folder(tmp_path / "empty")


def test_read_image_folder_to_a_given_size(image_folder):
    root, _, ones = image_folder
    images, labels = read_image_folder(root, image_size=(16, 16))
    assert images.shape == (8, 16, 16, 1) and len(labels) == 8
    # The 16x16 image is kept as it is; the 8x8 ones are resized up.
    np.testing.assert_array_equal(images[3, ..., 0], np.repeat(np.repeat(ones[3], 2, axis=0), 2, axis=1))
    assert read_image_folder(root, image_size=[12, 10])[0].shape == (8, 12, 10, 1)
    for bad in [(8,), (8, 0), "8x8", 8, (8.0, 8)]:
        with pytest.raises(ValueError, match=r"image_size must be \(height, width\), two integers >= 1"):
            read_image_folder(root, image_size=bad)


def test_read_image_file_converts_channels(tmp_path, small):
    x, _, _ = small
    gray = x[0]
    rgba = np.stack([gray, gray // 2, gray // 4, np.full_like(gray, 7)], axis=-1)
    (tmp_path / "rgba.png").write_bytes(tf.io.encode_png(rgba).numpy())
    (tmp_path / "gray_alpha.png").write_bytes(tf.io.encode_png(rgba[..., [0, 3]]).numpy())
    (tmp_path / "gray.png").write_bytes(tf.io.encode_png(gray[..., None]).numpy())
    assert read_image_file(tmp_path / "rgba.png").shape == (8, 8, 4)
    expected_gray = tf.image.rgb_to_grayscale(rgba[..., :3]).numpy()
    np.testing.assert_array_equal(read_image_file(tmp_path / "rgba.png", channels=1), expected_gray)
    np.testing.assert_array_equal(read_image_file(tmp_path / "rgba.png", channels=2)[..., 1], rgba[..., 3])
    np.testing.assert_array_equal(read_image_file(tmp_path / "rgba.png", channels=3), rgba[..., :3])
    # gray (with or without alpha) is repeated into RGB; a missing alpha is opaque
    np.testing.assert_array_equal(read_image_file(tmp_path / "gray_alpha.png", channels=3), np.stack([gray] * 3, -1))
    rgba_from_gray = read_image_file(tmp_path / "gray.png", channels=4)
    np.testing.assert_array_equal(rgba_from_gray, np.stack([gray, gray, gray, np.full_like(gray, 255)], -1))
    assert read_image_file(tmp_path / "gray.png", image_size=(4, 6), channels=3).shape == (4, 6, 3)
    with pytest.raises(ValueError, match=r"channels must be 1, 2, 3 or 4, got 5"):
        read_image_file(tmp_path / "gray.png", channels=5)


def test_an_unreadable_image_is_named(tmp_path, image_folder):
    root, _, _ = image_folder
    (root / "zero" / "broken.png").write_bytes(b"not a png")
    # TensorFlow's "{{function_node ...}}" prefix and "[Op:DecodeImage]" suffix are left out
    unknown_format = r"cannot read '.*broken\.png' as an image: Unknown image file format\.[^\[{]*$"
    with pytest.raises(ValueError, match=unknown_format):
        read_image_folder(root)
    with pytest.raises(ValueError, match=r"cannot read '.*nowhere\.png' as an image"):
        read_image_file(tmp_path / "nowhere.png")


@pytest.mark.parametrize("labels", ["int", "str"])
def test_batches_with_drop_remainder_of_images_without_channel_axis(small, labels):
    # `.batch(n, drop_remainder=True)` gives a static batch size: the batch of
    # (h, w) images is (n, h, w), the labels (n,). Still batches, not (n, h) images
    # with w channels.
    x, y, names = small
    labels = y if labels == "int" else names
    dataset = tf.data.Dataset.from_tensor_slices((x, labels)).batch(40, drop_remainder=True)
    data = read_training_data(dataset)
    assert data.image_shape == (8, 8, 1) and len(data) == 120
    np.testing.assert_array_equal(data.labels, labels)


def test_the_fingerprint_follows_pixels_and_labels_and_streams_agree_with_themselves():
    images = np.arange(4 * 8 * 8, dtype=np.uint8).reshape(4, 8, 8)
    labels = np.array([0, 1, 0, 1])
    first = read_training_data(images, labels).fingerprint
    assert read_training_data(images.copy(), labels.copy()).fingerprint == first
    changed = images.copy()
    changed[3, 7, 7] += 1
    assert read_training_data(changed, labels).fingerprint != first
    assert read_training_data(images, labels[::-1]).fingerprint != first
    stream = tf.data.Dataset.from_tensor_slices((images[..., None], labels))
    assert read_training_data(stream).fingerprint == read_training_data(stream).fingerprint


def test_bmp_and_gif_images_are_read_and_hidden_folders_and_files_skipped(tmp_path):
    from PIL import Image  # matplotlib's own dependency

    rng = np.random.default_rng(0)
    written = {}
    for label, extension in (("bmp_class", "bmp"), ("gif_class", "gif")):
        (tmp_path / label).mkdir()
        for index in range(2):
            pixels = rng.integers(0, 256, size=(8, 8), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{index}.{extension}")
            written[(label, index)] = pixels
    (tmp_path / ".hidden").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / ".hidden" / "0.png")
    (tmp_path / "bmp_class" / "._0.png").write_bytes(b"\x00\x05\x16\x07 a resource fork, not an image")

    images, labels = read_image_folder(tmp_path)
    assert labels.tolist() == ["bmp_class", "bmp_class", "gif_class", "gif_class"]
    np.testing.assert_array_equal(images[0, ..., 0], written[("bmp_class", 0)])
    np.testing.assert_array_equal(images[3, ..., 0], written[("gif_class", 1)])


def test_a_label_column_counts_as_one_dimensional():
    images = np.zeros((6, 8, 8), np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2])
    data = read_training_data(images, labels[:, None])
    assert data.labels.shape == (6,)
    np.testing.assert_array_equal(data.labels, labels)

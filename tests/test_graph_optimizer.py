"""`autoarch.runtime.remapping_off`: Grappler's remapping pass off inside the block, the user's options kept."""

import pytest
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.core.protobuf.rewriter_config_pb2 import RewriterConfig
from tensorflow.python.eager import context

from autoarch.runtime import remapping_off

pytestmark = pytest.mark.skipif(
    bool(tf.config.list_physical_devices("GPU")), reason="with a GPU visible remapping_off changes nothing"
)


def _remapping_given_to_functions():
    """The remapping setting the next call of a traced function is given."""
    config = config_pb2.ConfigProto.FromString(context.context().function_call_options.config_proto_serialized)
    return config.graph_options.rewrite_options.remapping


def test_the_pass_is_off_inside_and_the_options_are_as_before_after():
    before = tf.config.optimizer.get_experimental_options()
    assert "remapping" not in before
    with remapping_off():
        assert tf.config.optimizer.get_experimental_options()["remapping"] is False
        assert _remapping_given_to_functions() == RewriterConfig.OFF
    assert tf.config.optimizer.get_experimental_options() == before
    assert _remapping_given_to_functions() == RewriterConfig.DEFAULT


def test_an_error_inside_still_restores_the_options():
    before = tf.config.optimizer.get_experimental_options()
    with pytest.raises(ValueError, match="inside"), remapping_off():
        raise ValueError("inside")
    assert tf.config.optimizer.get_experimental_options() == before


def test_a_setting_of_the_users_own_is_left_alone():
    tf.config.optimizer.set_experimental_options({"remapping": True})
    try:
        with remapping_off():
            assert tf.config.optimizer.get_experimental_options()["remapping"] is True
            assert _remapping_given_to_functions() == RewriterConfig.ON
        assert tf.config.optimizer.get_experimental_options()["remapping"] is True
    finally:
        context.context()._optimizer_experimental_options.pop("remapping", None)
        tf.config.optimizer.set_experimental_options({})

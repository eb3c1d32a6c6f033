"""Builder of the custom block: a user's layer class, found by its registered name.

Only classes registered with tf_keras.saving.register_keras_serializable
resolve; the module that registers them is imported beforehand because the user
named it (--import_modules or PipelineConfig.import_modules; config/modules.py).
Nothing here imports by name or evaluates config text.
"""

import tf_keras
from google.protobuf import json_format

from easyrank.backbone.registry import register_block
from easyrank.errors import ConfigError

_OWN_PACKAGE = "easyrank>"


def registered_layers():
    """{registered name: class} of the tf_keras layer classes registered by users."""
    return {name: obj for name, obj in tf_keras.saving.get_custom_objects().items()
            if isinstance(obj, type) and issubclass(obj, tf_keras.layers.Layer)
            and not name.startswith(_OWN_PACKAGE)}


def resolve_layer_class(class_name, block_name, path):
    """The layer class registered as `class_name` ("package>Class" or a unique "Class")."""
    layers = registered_layers()
    if class_name in layers:
        return layers[class_name]
    matches = [name for name in layers if name.split(">")[-1] == class_name]
    if len(matches) == 1:
        return layers[matches[0]]
    if len(matches) > 1:
        raise ConfigError(f"custom block {block_name!r}: class_name {class_name!r} is ambiguous; "
                          f"use one of {', '.join(sorted(matches))}.", path=path)
    known = ", ".join(sorted(layers)) or "none"
    raise ConfigError(
        f"custom block {block_name!r}: no layer class is registered as {class_name!r} "
        f"(registered: {known}). Register it with @tf_keras.saving.register_keras_serializable"
        "(package=...) in your module and import that module with --import_modules "
        "my_pkg.layers or import_modules: \"my_pkg.layers\" in the pipeline config.", path=path)


def plain_params(struct):
    """A Struct as keyword arguments; whole numbers become int (JSON has only floats)."""

    def plain(value):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(json_format.MessageToDict(struct))


@register_block("custom")
def build_custom(message, context):
    path = context.path + ".custom"
    if not message.class_name:
        raise ConfigError(f"custom block {context.name!r} needs class_name, the name its layer "
                          "class is registered under, e.g. class_name: \"my_pkg>Gate\".",
                          path=path + ".class_name")
    layer_class = resolve_layer_class(message.class_name, context.name, path + ".class_name")
    params = plain_params(message.params)
    if "name" in params:
        raise ConfigError(f"custom block {context.name!r}: params may not set name; the layer is "
                          "named after the block.", path=path + ".params")
    try:
        return layer_class(name=context.name, **params)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"custom block {context.name!r}: {layer_class.__name__}(**params) "
                          f"failed: {e}", path=path + ".params") from None

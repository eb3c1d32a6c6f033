"""One traced inference function per model, shared by evaluation and every export signature.

Each tf.function that calls a model traces all of it again: the final
evaluation and the export's signatures (tf.Example and raw features, Regress,
Classify) each did, one full trace apiece (issue 23). They now call the one
function made here, traced once for [batch]-shaped raw features (the shapes
evaluation batches and the raw_features signature have; a batch of a fixed
size dispatches to that trace), and again only for inputs of another shape
(tf.Example lists, parsed to [batch, N]).
"""

import tensorflow as tf


def input_specs(model):
    """{input name: TensorSpec} of the model's raw feature inputs, batch dimension None."""
    return {name: tf.TensorSpec([None] + ([len(default)] if isinstance(default, list) else []), dtype, name=name)
            for name, dtype, default in model.input_fields}


def inference_function(model):
    """tf.function of `model(features, training=False)`, traced once for input_specs(model)."""
    # Exact shapes per trace (no reduce_retracing): a relaxed trace would lose the rank that
    # tells a tf.Example list [batch, N] from a joined string [batch].
    function = tf.function(lambda features: model(features, training=False), autograph=False)
    function.get_concrete_function(input_specs(model))
    return function

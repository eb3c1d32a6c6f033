"""One traced inference function per model, shared by evaluation and every export signature.

Each tf.function that calls a model traces all of it again: the final
evaluation and the export's signatures (tf.Example and raw features, Regress,
Classify) each did, one full trace apiece (issue 23). They now call the one
function made here, traced once for the evaluation data's features with the batch
dimension None (trace_for: every batch dispatches to that trace, and so do
the raw_features and tf.Example signatures, whose inputs have those shapes),
and again only for inputs of another shape (tf.Example lists, [batch, N]).
"""

import tensorflow as tf


def input_specs(model):
    """{input name: TensorSpec} of the model's raw feature inputs, batch dimension None."""
    return {name: tf.TensorSpec([None] + ([len(default)] if isinstance(default, list) else []), dtype, name=name)
            for name, dtype, default in model.input_fields}


def inference_function(model):
    """tf.function of `model(features, training=False)`, traced once per input shape."""
    # Exact shapes per trace (no reduce_retracing): a relaxed trace would lose the rank that
    # tells a tf.Example list [batch, N] from a joined string [batch].
    return tf.function(lambda features: model(features, training=False), autograph=False)


def trace_for(function, element_spec):
    """Traces `function` for a dataset's features spec (batch dimension None), so that every
    batch, the last and shorter one too, and the export's raw_features use that one trace."""
    function.get_concrete_function(element_spec)

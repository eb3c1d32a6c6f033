"""Given the same id-only inputs (initial tables, batches), easyrank's two-tower model trains as
tensorflow-recommenders' basic retrieval recipe does: tfrs.tasks.Retrieval's summed in-batch
softmax and tf_keras' Adagrad, step for step (docs/benchmarks.md, issue 30). In process."""

import easyrank  # noqa: F401

# isort: split

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras

from easyrank import config as config_lib
from easyrank.training import strategies
from easyrank.training.model_state import create_model

USERS, MOVIES, DIM, BATCH, STEPS = 12, 30, 4, 16, 3
CONFIG = """
train_input_path: "{data}"
eval_input_path: "{data}"
data_config {{
  input_fields {{ name: "user_id" type: INT64 }}
  input_fields {{ name: "movie_id" type: INT64 }}
  batch_size: 16
  csv_header: true
}}
feature_configs {{ id_feature {{ name: "user_id" num_buckets: {users} embedding_dim: {dim} }} }}
feature_configs {{ id_feature {{ name: "movie_id" num_buckets: {movies} embedding_dim: {dim} }} }}
model_config {{
  feature_groups {{ name: "user" feature_names: ["user_id"] }}
  feature_groups {{ name: "movie" feature_names: ["movie_id"] }}
  retrieval {{
    query_tower {{ backbone {{ blocks {{ name: "u" inputs {{ feature_group: "user" }} concat {{}} }} }} }}
    item_tower {{ backbone {{ blocks {{ name: "m" inputs {{ feature_group: "movie" }} concat {{}} }} }} }}
    item_id_field: "movie_id"
    logq_correction: false
    remove_accidental_hits: false
    loss_reduction: {reduction}
  }}
}}
train_config {{
  optimizer {{ adagrad {{ learning_rate: 0.1 initial_accumulator_value: 0.1 }} }}
  embedding_optimizer {{ adagrad {{ learning_rate: 0.1 initial_accumulator_value: 0.1 }} }}
}}
export_config {{ exporter: NONE }}
"""


class _Recipe(tfrs.Model):
    """The basic retrieval guide's MovielensModel, its embeddings starting at the given tables."""

    def __init__(self, users, movies):
        super().__init__()
        self.user_model = tf_keras.layers.Embedding(
            users.shape[0], DIM, embeddings_initializer=tf_keras.initializers.Constant(users))
        self.movie_model = tf_keras.layers.Embedding(
            movies.shape[0], DIM, embeddings_initializer=tf_keras.initializers.Constant(movies))
        self.task = tfrs.tasks.Retrieval()

    def compute_loss(self, features, training=False):
        return self.task(self.user_model(features["user_id"]), self.movie_model(features["movie_id"]))


def _batches():
    rng = np.random.default_rng(5)  # few users and movies: ids repeat within a batch
    return [{"user_id": tf.constant(rng.integers(0, USERS, BATCH), tf.int64),
             "movie_id": tf.constant(rng.integers(0, MOVIES, BATCH), tf.int64)} for _ in range(STEPS)]


def _easyrank(tmp_path, reduction):
    (tmp_path / "data.csv").write_text("user_id,movie_id\n1,2\n")
    path = tmp_path / f"{reduction}.config"
    path.write_text(CONFIG.format(data=tmp_path / "data.csv", users=USERS, movies=MOVIES, dim=DIM,
                                  reduction=reduction))
    config = config_lib.load_config(str(path))
    model, _ = create_model(config, strategies.build_strategy(config.train_config))
    return model


def _train(easyrank_model):
    tables = easyrank_model.feature_groups.tables
    initial = {name: tables[name].numpy() for name in ("user_id", "movie_id")}
    recipe = _Recipe(initial["user_id"], initial["movie_id"])
    recipe.compile(optimizer=tf_keras.optimizers.Adagrad(learning_rate=0.1))
    losses = []
    for batch in _batches():
        ours = easyrank_model.train_step((batch, {}))["loss"]
        easyrank_model.loss_tracker.reset_state()
        theirs = recipe.train_step(batch)["loss"]
        losses.append((float(ours), float(theirs)))
    return initial, tables, recipe, np.array(losses)


def test_sum_reduction_trains_as_the_tfrs_recipe(tmp_path):
    initial, tables, recipe, losses = _train(_easyrank(tmp_path, "SUM"))
    np.testing.assert_allclose(losses[:, 0], losses[:, 1], rtol=1e-5)
    # Both moved from their start (tables drawn from uniform(-0.05, 0.05))...
    assert np.abs(recipe.movie_model.embeddings.numpy() - initial["movie_id"]).max() > 0.02
    # ...to the same tables.
    np.testing.assert_allclose(tables["user_id"].numpy(), recipe.user_model.embeddings.numpy(),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(tables["movie_id"].numpy(), recipe.movie_model.embeddings.numpy(),
                               rtol=1e-4, atol=1e-6)


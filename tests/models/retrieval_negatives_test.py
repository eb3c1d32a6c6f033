"""Sampled and hard negatives inside the model: each adds its candidates to every row's softmax.

With freshly initialised tables (uniform +-0.05) every score is about 0, so each row's
cross-entropy is about log(number of its candidates): B in-batch, + M sampled, + the row's
hard negatives that exist in the candidate file.
"""

import easyrank  # noqa: F401

# isort: split

import os

import numpy as np
import pytest
import tf_keras

from easyrank import config as config_lib
from easyrank.data import build_dataset
from easyrank.models import build_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IDS = os.path.join(ROOT, "samples", "configs", "movielens_retrieval_ids.config")
B = 64


def loss_of(edits):
    os.chdir(ROOT)
    config = config_lib.load_config(IDS, dict({"model_config.retrieval.logq_correction": False,
                                               "model_config.retrieval.remove_accidental_hits": True,
                                               "model_config.retrieval.loss_reduction": "MEAN"},
                                              **edits))
    tf_keras.utils.set_random_seed(1)
    model = build_model(config)
    features, _ = next(iter(build_dataset(config.data_config, config.train_input_path,
                                          training=False, batch_size=B)))
    return model, features, float(model.compute_loss_of(features, {}, training=True))


def in_batch_candidates(features):
    ids = features["movie_id"].numpy()
    # Accidental hits: a row's positive repeated elsewhere in the batch is left out.
    return np.array([B - (np.sum(ids == ids[i]) - 1) for i in range(B)])


@pytest.mark.parametrize("distribution", ["UNIFORM", "FREQUENCY"])
def test_sampled_negatives_join_every_softmax(distribution):
    _, features, plain = loss_of({})
    _, _, sampled = loss_of({"model_config.retrieval.negative_sampler.num_negatives": 100,
                             "model_config.retrieval.negative_sampler.distribution": distribution,
                             "model_config.retrieval.negative_sampler.weight_field": "train_likes"})
    base = in_batch_candidates(features)
    assert plain == pytest.approx(np.mean(np.log(base)), abs=0.02)
    # 100 more candidates a row (fewer where a sample equals the row's positive).
    assert sampled == pytest.approx(np.mean(np.log(base + 100)), abs=0.03)


def test_hard_negatives_join_their_own_row_only():
    # user_activity_bucket holds "0".."4": "1".."4" are movie ids of the candidate file, "0" is not.
    _, features, hard = loss_of({"model_config.retrieval.hard_negative_fields": ["user_activity_bucket"]})
    bucket = features["user_activity_bucket"].numpy()
    positive = features["movie_id"].numpy()
    extra = np.array([1 if b != b"0" and b != p else 0 for b, p in zip(bucket, positive)])
    assert hard == pytest.approx(np.mean(np.log(in_batch_candidates(features) + extra)), abs=0.02)
    assert extra.sum() > 0

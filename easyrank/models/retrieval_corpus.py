"""The retrieval corpus of a config: the candidate file, or every item of the training data."""

from easyrank.data import build_dataset
from easyrank.data.candidates import corpus_from_batches
from easyrank.errors import ConfigError
from easyrank.models.retrieval_compiler import load_corpus, tower_fields


def corpus_of(config):
    """The evaluation corpus: the candidate file, else every item of the training data."""
    corpus = load_corpus(config)
    if corpus is not None:
        return corpus
    retrieval = config.model_config.retrieval
    fields = sorted(set(tower_fields(config, "item_tower")) | {retrieval.item_id_field})
    return corpus_from_batches(numpy_batches(config, config.train_input_path, fields),
                               fields, retrieval.item_id_field,
                               source=", ".join(config.train_input_path))


def check_top_k(config, corpus_size):
    """ConfigError when a K of metrics_top_k or export_top_k exceeds the corpus."""
    retrieval = config.model_config.retrieval
    for i, k in enumerate(retrieval.metrics_top_k):
        if k > corpus_size:
            raise ConfigError(f"K = {k} is larger than the corpus ({corpus_size:,} items); "
                              "recall@K would be 1 whatever the model.",
                              path=f"model_config.retrieval.metrics_top_k[{i}]")
    if retrieval.export_top_k > corpus_size:
        raise ConfigError(f"k = {retrieval.export_top_k} is larger than the corpus "
                          f"({corpus_size:,} items).", path="model_config.retrieval.export_top_k")


def numpy_batches(config, paths, fields, batch_size=4096):
    """{field: numpy [rows]} batches of `fields` of the files `paths`."""
    dataset = build_dataset(config.data_config, paths, training=False, batch_size=batch_size)
    for features, _ in dataset:
        yield {name: features[name].numpy() for name in fields}


def check_corpus(config):
    """Reads the corpus and checks K against it: the checks a run makes before training
    (a candidate file with a missing or repeated id is a DataError naming its row)."""
    check_top_k(config, len(corpus_of(config)))

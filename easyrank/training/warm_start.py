"""Warm start: initialise a fresh run from another model's checkpoint (fine_tune_checkpoint).

Variables are matched by checkpoint key, the object path such as
"model/backbone/block_layers/deep/_dense_layers/0/kernel", read by name with
tf.train.load_checkpoint, after train_config.fine_tune_renames map today's
names to the checkpoint's. Embedding tables whose row count changed keep the
rows whose meaning carries over (training/embedding_rows.py); any other
shape change is a ConfigError naming both variables and shapes. Optimizer
slots (and the step count) are restored on request, matched to their model
variables by name, for every optimizer the checkpoint tracks. A ranking model
warm-started from a retrieval model reads its blocks from the towers' blocks of
the same name (_tower_key; docs/retrieval.md).

All checks run before anything is assigned or written to model_dir.
"""

import logging
import os

import tensorflow as tf
from google.protobuf import text_format

from easyrank.errors import ConfigError
from easyrank.io import files
from easyrank.protos import pipeline_pb2
from easyrank.training import checkpoint_integrity, chunked_restore, embedding_rows, warm_start_dynamic
from easyrank.training.embedding_rows import save_vocabularies  # noqa: F401  (loop writes them)

logger = logging.getLogger(__name__)

_PATH = "train_config.fine_tune_checkpoint"
_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_BACKBONE = "model/backbone/"
_TOWER_BACKBONES = ("model/item_tower/backbone/", "model/query_tower/backbone/")


def resolve(path):
    """The checkpoint prefix of a checkpoint file or model_dir; ConfigError when there is none."""
    if files.isdir(path):
        found = tf.train.latest_checkpoint(path)
        if found:
            return found
    elif files.exists(path + ".index"):
        return path
    raise ConfigError(f"{path!r} is neither a checkpoint (model_dir/ckpt-N, with a .index file) "
                      "nor a model_dir holding one; point it at yesterday's model_dir or one of "
                      "its checkpoints.", path=_PATH)


def old_config(checkpoint_path):
    """The PipelineConfig saved beside the checkpoint (pipeline.config), or None."""
    path = os.path.join(os.path.dirname(checkpoint_path), "pipeline.config")
    if not files.isfile(path):
        return None
    config = pipeline_pb2.PipelineConfig()
    try:
        text_format.Parse(files.read_text(path), config)
    except (text_format.ParseError, OSError, tf.errors.OpError) as e:
        logger.warning("Warm start: cannot read %s (%s); vocabularies cannot be matched by key.",
                        path, e)
        return None
    return config


def check_vocabularies(config, model_dir):
    """Before continuing in model_dir: ConfigError if a vocabulary changed since its checkpoint."""
    embedding_rows.check_vocabularies(config, old_config(os.path.join(model_dir, "ckpt")), model_dir)


def variable_keys(root):
    """{checkpoint key: variable} of everything `root` (a tf.train.Checkpoint) saves."""
    keys, seen, queue = {}, {id(root)}, [(root, ())]
    while queue:  # breadth first, first path wins: the order tf.train.Checkpoint names them
        obj, path = queue.pop(0)
        for name, child in tf.train.TrackableView.children(obj).items():
            if id(child) in seen:
                continue
            seen.add(id(child))
            child_path = path + (name.replace(".", "..").replace("/", ".S"),)
            if isinstance(child, tf.Variable):  # MirroredVariable too
                keys["/".join(child_path) + _SUFFIX] = child
            else:
                queue.append((child, child_path))
    return keys


def warm_start(config, checkpoint):
    """Restores the variables of train_config.fine_tune_checkpoint that match; logs a summary."""
    train = config.train_config
    path = resolve(train.fine_tune_checkpoint)
    reason = checkpoint_integrity.damage(path)
    if reason:
        raise checkpoint_integrity.error(path, reason, f"Warm start ({_PATH})")
    reader = files.checkpoint_reader(path)
    old_shapes = {k: s for k, s in reader.get_variable_to_shape_map().items() if k.endswith(_SUFFIX)}
    new_vars = variable_keys(checkpoint)
    model_keys = {k: v for k, v in new_vars.items()
                  if k.startswith("model/") and "/loss_tracker/" not in k}
    renames = _renames(train, model_keys, old_shapes)
    tables = _Tables(config, checkpoint, path, renames)
    dynamic, dynamic_state = warm_start_dynamic.state_keys(
        checkpoint.model.feature_groups.dynamic_tables, model_keys)
    old_dynamic = warm_start_dynamic.old_states(reader)
    assignments, unchanged, dynamic_plans = [], set(), []
    summary = {"restored": [], "resized": [], "new": [], "unused": []}
    for key, variable in sorted(model_keys.items()):
        if key in dynamic_state:
            continue  # carried with its table, below
        old_key = _tower_key(_old_key(key, renames), old_shapes)
        if any(part in key for part in train.fine_tune_exclude) or old_key not in old_shapes:
            summary["new"].append(_short(key))
            continue
        value = note = None  # value: None reads the checkpoint's value when assigning
        if key in dynamic:
            describe = f"{_short(key)} from {_short(old_key)}"
            carried, note = warm_start_dynamic.plan(dynamic[key][1], reader, old_key,
                                                    old_dynamic.get(old_key), describe)
            if carried is None:
                logger.warning("Warm start: embedding %r %s.", dynamic[key][0], note)
                summary["new"].append(f"{_short(key)} ({note})")
                continue
            note = warm_start_dynamic.note(carried)
            summary["resized" if note else "restored"].append(
                f"{_short(key)} ({note})" if note else f"{_short(key)} (with its id mapping)")
            if not note:
                unchanged.add(old_key)
            dynamic_plans.append((dynamic[key][1], carried, old_key))
            continue
        if tables.name(variable) is not None and old_key in old_dynamic:
            note = "re-initialised: it was a dynamic table in the checkpoint, so its rows held ids"
            logger.warning("Warm start: embedding %r %s.", tables.name(variable), note)
            summary["new"].append(f"{_short(key)} ({note})")
            continue
        if tables.name(variable) is not None:
            value, note = tables.carry(variable, reader.get_tensor(old_key), key, old_key)
            if value is None:
                logger.warning("Warm start: embedding %r %s.", tables.name(variable), note)
                summary["new"].append(f"{_short(key)} ({note})")
                continue
        elif tuple(old_shapes[old_key]) != tuple(variable.shape):
            raise ConfigError(f"cannot warm start {_short(key)} of shape {list(variable.shape)} from "
                              f"{_short(old_key)} of shape {list(old_shapes[old_key])} in {path}; "
                              "exclude it with fine_tune_exclude or rename it.", path=_PATH)
        summary["resized" if note else "restored"].append(
            f"{_short(key)} ({note})" if note else _short(key))
        if not note:
            unchanged.add(old_key)
            value = None
        assignments.append((variable, value, old_key))
    if not assignments and not dynamic_plans:
        raise ConfigError(f"no variable of {path} matches this model: it comes from another "
                          "model (checkpoint keys such as "
                          f"{', '.join(sorted(_short(k) for k in old_shapes)[:3])}); use "
                          "fine_tune_renames for renamed blocks or features.", path=_PATH)
    saved = chunked_restore.SavedValues(path, reader)  # large ones in place, chunk by chunk
    for variable, value, old_key in assignments:  # only once every check passed
        if value is None:
            saved.assign(variable, old_key)
        else:
            variable.assign(value)
    for rows, carried, old_key in dynamic_plans:
        warm_start_dynamic.apply(rows, carried, saved, old_key)
    if train.fine_tune_optimizer_state:
        summary["optimizer_slots"] = _restore_optimizer(saved, new_vars, model_keys, renames,
                                                        unchanged, old_shapes)
    used = {a[2] for a in assignments} | {p[2] for p in dynamic_plans}
    used |= {k for p in dynamic_plans for k in old_shapes if k.startswith(old_dynamic[p[2]] + "/")}
    summary["unused"] = sorted(_short(k) for k in old_shapes
                               if k.startswith("model/") and k not in used
                               and "/loss_tracker/" not in k)
    _log_summary(path, summary)
    return summary


class _Tables:
    """The embedding tables of the new model, and what their rows meant in the checkpoint's."""

    def __init__(self, config, checkpoint, path, renames):
        self._names = {id(v): name for name, v in checkpoint.model.feature_groups.tables.items()}
        self._meanings = embedding_rows.table_meanings(config)
        old = old_config(path)
        self._old_meanings = embedding_rows.table_meanings(old) if old is not None else {}
        self._old_dir, self._renames = os.path.dirname(path), renames

    def name(self, variable):
        return self._names.get(id(variable))

    def carry(self, variable, old_value, key, old_key):
        """(value or None to keep the fresh rows, note) for a table (embedding_rows.carry_rows)."""
        name, fresh = self.name(variable), variable.numpy()
        describe = f"{_short(key)} {list(fresh.shape)} from {_short(old_key)} {list(old_value.shape)}"
        return embedding_rows.carry_rows(
            self._meanings[name], self._old_meanings.get(self._renames.get(name, name)),
            old_value, fresh, self._old_dir, describe)


def _renames(train, model_keys, old_shapes):
    """{name here: name in the checkpoint}; every entry must name something on both sides."""
    renames = {}
    new_segments = {s for k in model_keys for s in _segments(k)}
    old_segments = {s for k in old_shapes for s in _segments(k)}
    for i, entry in enumerate(train.fine_tune_renames):
        field = f"train_config.fine_tune_renames[{i}]"
        if entry.name not in new_segments:
            raise ConfigError(f"name {entry.name!r} names no block, feature or embedding of this "
                              "model.", path=field + ".name")
        if entry.checkpoint_name not in old_segments:
            raise ConfigError(f"checkpoint_name {entry.checkpoint_name!r} names nothing in "
                              f"{train.fine_tune_checkpoint}.", path=field + ".checkpoint_name")
        renames[entry.name] = entry.checkpoint_name
    return renames


def _segments(key):
    """Unescaped path segments of a key; "embedding/x" also yields "x"."""
    parts = [p.replace(".S", "/").replace("..", ".") for p in key[:-len(_SUFFIX)].split("/")]
    return parts + [p.split("/", 1)[1] for p in parts if p.startswith("embedding/")]


def _old_key(key, renames):
    if not renames:
        return key
    parts = []
    for part in key[:-len(_SUFFIX)].split("/"):
        plain = part.replace(".S", "/").replace("..", ".")
        if plain in renames:
            plain = renames[plain]
        elif plain.startswith("embedding/") and plain[len("embedding/"):] in renames:
            plain = "embedding/" + renames[plain[len("embedding/"):]]
        parts.append(plain.replace(".", "..").replace("/", ".S"))
    return "/".join(parts) + _SUFFIX


def _tower_key(old_key, old_shapes):
    """A ranking model's block from a retrieval checkpoint (docs/retrieval.md): a key of
    model/backbone/ that the checkpoint lacks is looked up under its item tower's backbone,
    then its query tower's (the block of the same name); else unchanged."""
    if old_key in old_shapes or not old_key.startswith(_BACKBONE):
        return old_key
    for tower in _TOWER_BACKBONES:
        candidate = tower + old_key[len(_BACKBONE):]
        if candidate in old_shapes:
            return candidate
    return old_key


def _restore_optimizer(saved, new_vars, model_keys, renames, unchanged, old_shapes):
    """Restores the slots of the variables restored unchanged, and the step count; returns
    the number of slots restored."""
    old_names = _old_full_names(saved.reader)
    old_model = {name: key for key, name in old_names.items() if key.startswith("model/")}
    old_slots = {}
    for key, name in old_names.items():
        slot = _split_slot(name, old_model) if not key.startswith("model/") else None
        if slot:
            old_slots[(slot[0], old_model[slot[1]])] = key
    new_model = {v.name.split(":")[0]: k for k, v in model_keys.items()}
    count = 0
    for key, variable in new_vars.items():
        if key.startswith(("model/", "input_state/")):
            continue
        if key.endswith("/_iterations" + _SUFFIX) and key in old_shapes:
            saved.assign(variable, key)
            continue
        slot = _split_slot(variable.name.split(":")[0], new_model)
        if slot is None:
            continue
        old_model_key = _tower_key(_old_key(new_model[slot[1]], renames), old_shapes)
        old_key = old_slots.get((slot[0], old_model_key))
        if old_model_key in unchanged and old_key is not None:
            saved.assign(variable, old_key)
            count += 1
    return count


def _split_slot(name, model_names):
    """("m", model variable name) for an optimizer slot named "m/<model variable name>"."""
    pieces = name.split("/")
    for split in range(1, len(pieces)):
        rest = "/".join(pieces[split:])
        if rest in model_names:
            return "/".join(pieces[:split]), rest
    return None


def _old_full_names(reader):
    """{checkpoint key: variable name when saved} from the checkpoint's object graph."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    return {a.checkpoint_key: a.full_name for node in graph.nodes for a in node.attributes
            if a.name == "VARIABLE_VALUE"}


def _short(key):
    return key[:-len(_SUFFIX)] if key.endswith(_SUFFIX) else key


def _log_summary(path, summary):
    def listing(items):
        items = sorted(items)
        return ", ".join(items[:8]) + (f" and {len(items) - 8} more" if len(items) > 8 else "")

    logger.info("Warm start from %s: %d variables restored, %d resized, %d newly initialised, "
                 "%d in the checkpoint unused%s.", path, len(summary["restored"]),
                 len(summary["resized"]), len(summary["new"]), len(summary["unused"]),
                 f", {summary['optimizer_slots']} optimizer slots restored"
                 if "optimizer_slots" in summary else "")
    for kind in ("resized", "new", "unused"):
        if summary[kind]:
            logger.info("Warm start %s: %s", kind, listing(summary[kind]))

"""Do the embedding tables and their optimizer slots fit the run's memory? (issue 13)

The estimate: rows x embedding_dim x 4 bytes x (1 + the optimizer's slot floats per element;
row-wise Adagrad: one float per row), summed over the tables. config/validation.py checks it
against this machine (or its cgroup limit) or the ps tasks of TF_CONFIG before anything runs;
training/gpu_memory.py again against each GPU's free memory. The tables and their rows come
from the feature kinds (easyrank/config/feature_kinds/).
"""

import json
import os

from easyrank.errors import ConfigError


def check_tables_fit(tables, train, memory_bytes=None, device=None):
    """ConfigError naming the largest tables when `tables` plus slots exceed the memory.

    `tables`: {embedding name: (rows, embedding_dim, field path of the row count)};
    `train`: the TrainConfig (its optimizers and strategy). `memory_bytes`: the memory of
    one machine (default: this machine's, or its cgroup limit); PARAMETER_SERVER runs may
    use that much on each ps task of TF_CONFIG. `device`: where `memory_bytes` is, for the
    message (e.g. "GPU:0 (NVIDIA H100) has").
    """
    if not tables:
        return
    name, slots = slots_per_element(train)
    needed = sum(rows * dim * 4 * (1 + (1.0 / dim if slots == "row" else slots))
                 for rows, dim, _ in tables.values())
    machines = 1
    if train.distribution.strategy == train.distribution.PARAMETER_SERVER:
        machines = max(1, len(tf_config_cluster().get("ps", [])))
    if device:
        machines = 1
    memory = (memory_bytes or machine_memory()) * machines
    if memory and needed > memory:
        table, (rows, dim, field) = max(tables.items(), key=lambda t: t[1][0] * t[1][1])
        slot_text = "1 accumulator per row" if slots == "row" else f"{slots} slots"
        where = device or (f"{machines} parameter servers with" if machines > 1
                           else "this machine has")
        largest = sorted(tables.items(), key=lambda t: -t[1][0] * t[1][1])[:5]
        listed = ", ".join(f"{t!r} {gib(r * d * 4 * (1 + (1.0 / d if slots == 'row' else slots)))}"
                           for t, (r, d, _) in largest)
        raise ConfigError(
            f"the embedding tables need {gib(needed)} (rows x embedding_dim x 4 bytes x (1 + the "
            f"optimizer's slots: {name}, {slot_text}), summed over {len(tables)} tables) but "
            f"{where} {gib(memory)} of memory; the largest is {table!r}: {rows:,} rows x {dim} "
            f"= {gib(rows * dim * 4)} before slots (with slots: {listed}). Use fewer rows "
            "(hash_bucket_size), a smaller embedding_dim, an embedding optimizer with fewer slots "
            "(rowwise_adagrad: one float per row; sgd: none) or PARAMETER_SERVER with more ps "
            "tasks.", path=field)


# Slot floats per table element of each embedding optimizer (rowwise_adagrad: 1 per row).
_EMBEDDING_SLOTS = {"lazy_adam": 2, "adagrad": 1, "ftrl": 2}
_DENSE_SLOTS = {"adam": 2, "adagrad": 1, "ftrl": 2}


def slots_per_element(train):
    """(optimizer name, slot floats per element or "row") of the tables' optimizer."""
    kind = train.embedding_optimizer.WhichOneof("optimizer")
    if kind == "use_dense_optimizer" and not train.embedding_optimizer.use_dense_optimizer:
        kind = None
    if kind is None or kind == "use_dense_optimizer":
        dense = train.optimizer.WhichOneof("optimizer") or "adam"
        slots = _DENSE_SLOTS.get(dense, 1 if train.optimizer.sgd.momentum else 0)
        return ("train_config.optimizer " + dense if kind else f"row-wise {dense}"), slots
    if kind == "rowwise_adagrad":
        return kind, "row"
    if kind == "sgd":
        return kind, 1 if train.embedding_optimizer.sgd.momentum else 0
    return kind, _EMBEDDING_SLOTS[kind]


def machine_memory():
    """Bytes of memory this process may use: physical memory, or a lower cgroup limit."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(limit_file, encoding="ascii") as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            memory = min(memory, int(text))
    return memory


def tf_config_cluster():
    try:
        value = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError:
        return {}  # reported by the strategy
    return value.get("cluster") or {} if isinstance(value, dict) else {}


def gib(n):
    return f"{n / 2 ** 30:,.1f} GiB"

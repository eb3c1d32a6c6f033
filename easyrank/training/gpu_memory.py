"""Do the embedding tables fit the GPUs? (issue 27)

Under DEFAULT, MIRRORED and MULTI_WORKER_MIRRORED every GPU holds a whole copy of
every table and of its optimizer slots; a run whose tables do not fit the free
memory of a GPU would fail with an allocator error deep in the first step. The
config's table-memory check (config/validation.py) runs again against each
visible GPU's free memory (TensorFlow's memory limit for the device less what it
already holds, tf.config.experimental.get_memory_info), so the error names the
tables and their sizes before training. PARAMETER_SERVER keeps the tables on the
ps tasks (the config check covers those).
"""

import tensorflow as tf
from tensorflow.python.client import device_lib

from easyrank.config import validation


def gpu_free_memory():
    """[(device name, description, free bytes)] of the visible GPUs ([] without one)."""
    if not tf.config.list_physical_devices("GPU"):
        return []
    found = []
    for device in device_lib.list_local_devices():
        if device.device_type != "GPU":
            continue
        name = device.name.replace("/device:", "")
        used = tf.config.experimental.get_memory_info(name).get("current", 0)
        found.append((name, device.physical_device_desc.split("name: ")[-1].split(",")[0],
                      max(device.memory_limit - used, 0)))
    return found


def check_tables_fit_gpus(config, gpus=None):
    """ConfigError naming the tables and sizes when they do not fit the smallest free GPU."""
    train = config.train_config
    if train.distribution.strategy == train.distribution.PARAMETER_SERVER:
        return
    gpus = gpu_free_memory() if gpus is None else gpus
    if not gpus:
        return
    name, description, free = min(gpus, key=lambda g: g[2])
    validation.validate_embedding_tables(
        config, memory_bytes=max(free, 1),
        device=f"GPU {name} ({description}), which holds a whole copy of them, has")

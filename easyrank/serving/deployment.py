"""TF Serving deployment files written next to the versions of an export.

    <export_dir>/models.config            --model_config_file: name, base path, version policy
    <export_dir>/batching_parameters.txt  --batching_parameters_file (with --enable_batching)
    <export_dir>/monitoring.config        --monitoring_config_file: Prometheus metrics
    <export_dir>/README.md                the exact commands for this model

TF Serving only loads numeric subdirectories of a base path, so these files
sit beside the versions without being mistaken for one, and nothing is
written outside the export directory. docs/serving.md explains them.
"""

import os

from easyrank.io import files as file_layer

MODELS_CONFIG = "models.config"
BATCHING_CONFIG = "batching_parameters.txt"
MONITORING_CONFIG = "monitoring.config"
README = "README.md"

_BATCHING = """\
# TF Serving server-side batching (tensorflow_model_server --enable_batching
# --batching_parameters_file=<this file>). Requests are merged up to
# max_batch_size rows or batch_timeout_micros, whichever comes first.
max_batch_size { value: 256 }
batch_timeout_micros { value: 2000 }
max_enqueued_batches { value: 1000 }
num_batch_threads { value: 4 }
allowed_batch_sizes: 16
allowed_batch_sizes: 64
allowed_batch_sizes: 256
pad_variable_length_inputs: true
"""

_MONITORING = """\
prometheus_config {
  enable: true
  path: "/monitoring/prometheus/metrics"
}
"""


def models_config_text(model_name, base_path):
    """A ModelServerConfig serving the newest version of one model."""
    return f"""\
model_config_list {{
  config {{
    name: "{model_name}"
    base_path: "{base_path}"
    model_platform: "tensorflow"
    model_version_policy {{ latest {{ num_versions: 1 }} }}
  }}
}}
"""


def readme_text(model_name, base_path, signature_names):
    names = ", ".join(f"`{n}`" for n in sorted(signature_names))
    return f"""\
# {model_name}: serving this export

Versions: the numeric directories here (TF Serving serves the highest).
Signatures: {names}. See docs/serving.md in easyrank for their inputs and outputs.

Check the export (no server needed):

    python -m easyrank.check_export {base_path}

Serve it with a local tensorflow_model_server:

    tensorflow_model_server --port=8500 --rest_api_port=8501 \\
        --model_config_file={base_path}/{MODELS_CONFIG} \\
        --enable_batching --batching_parameters_file={base_path}/{BATCHING_CONFIG} \\
        --monitoring_config_file={base_path}/{MONITORING_CONFIG}

or with Docker (the config's base_path must then be /models/{model_name}):

    docker run --rm -p 8500:8500 -p 8501:8501 \\
        -v {base_path}:/models/{model_name} -e MODEL_NAME={model_name} tensorflow/serving

Query it:

    python tools/serving_client.py --server localhost:8500 --model_name {model_name} \\
        --input_path <rows.csv or .tfrecord>
    python tools/serving_client.py --rest --server localhost:8501 --model_name {model_name} \\
        --input_path <rows.csv or .tfrecord>
    curl localhost:8501/v1/models/{model_name}/metadata
"""


def serve_commands(model_name, export_dir):
    """Shell commands that serve export_dir with TF Serving: local binary, then Docker."""
    base_path = file_layer.abspath(export_dir)
    return [f"tensorflow_model_server --port=8500 --rest_api_port=8501 "
            f"--model_name={model_name} --model_base_path={base_path}",
            f"docker run --rm -p 8500:8500 -p 8501:8501 -v {base_path}:/models/{model_name} "
            f"-e MODEL_NAME={model_name} tensorflow/serving"]


def write_deployment_files(export_dir, model_name, signature_names):
    """(Re)writes the deployment files in export_dir, each atomically."""
    base_path = file_layer.abspath(export_dir)
    files = {
        MODELS_CONFIG: models_config_text(model_name, base_path),
        BATCHING_CONFIG: _BATCHING,
        MONITORING_CONFIG: _MONITORING,
        README: readme_text(model_name, base_path, signature_names),
    }
    for name, text in files.items():
        file_layer.write_text(os.path.join(export_dir, name), text)

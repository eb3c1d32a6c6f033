"""Packaging for easyrank. Building or installing compiles protos/ into easyrank/protos/."""

import glob
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def compile_protos():
    """Runs protoc (from grpcio-tools) on protos/easyrank/protos/*.proto."""
    from grpc_tools import protoc  # build-time dependency, see pyproject.toml

    proto_root = os.path.join(HERE, "protos")
    sources = sorted(glob.glob(os.path.join(proto_root, "easyrank", "protos", "*.proto")))
    for source in sources:
        # grpc_tools/_proto holds the well-known types (google/protobuf/struct.proto, ...).
        well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
        args = ["protoc", f"--proto_path={proto_root}", f"--proto_path={well_known}",
                f"--python_out={HERE}", source]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {source}")


class BuildPyWithProtos(build_py):
    """Generates easyrank/protos/*_pb2.py before the usual build (also for -e)."""

    def run(self):
        compile_protos()
        super().run()


setup(
    name="easyrank",
    version="0.1.0",
    description="Config-driven ranking models (CTR, CVR, multi-task) on TensorFlow 2",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["easyrank", "easyrank.*"]),
    include_package_data=False,
    package_data={"easyrank.serving": ["load_saved_model.cc"]},  # check_export's C++ loader check
    install_requires=[
        "pyarrow>=14",
        "tensorflow==2.21.*",
        "tf-keras==2.21.*",
        "tensorflow-recommenders>=0.7.3",
        "protobuf>=7.35.1,<8",
        "absl-py>=2.1",
        "tensorboard>=2.20",
        "numpy",
        # ml_dtypes 0.7.0 (TensorFlow's numpy dtypes) takes 1.0-1.5 s of CPU to import, 0.6.0
        # 0.2 s: a second off every process start (issue 23). TensorFlow 2.21 asks for >=0.5.1.
        "ml_dtypes>=0.5.1,<0.7",
        # Checksums of checkpoint entries read chunk by chunk (training/chunked_restore.py).
        "google-crc32c>=1.5",
        # Exports carry TF Serving warmup records (tensorflow.serving.PredictionLog).
        "tensorflow-serving-api==2.21.*",
    ],
    extras_require={
        # moto[server]: a local S3-compatible server for the object-storage tests (tests/io/).
        "test": ["pytest>=8", "pytest-xdist>=3.5", "ruff>=0.6", "moto[server]>=5"],
        "serving": [],  # kept so that `pip install -e ".[test,serving]"` still works; now core
    },
    cmdclass={"build_py": BuildPyWithProtos},
)

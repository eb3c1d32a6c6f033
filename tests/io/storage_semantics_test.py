"""The object-store semantics of the file layer, on ram:// (no network)."""

import easyrank  # noqa: F401

# isort: split
import uuid

import pytest
import tensorflow as tf

from easyrank.errors import ConfigError
from easyrank.io import files, preflight, schemes


@pytest.fixture
def root():
    path = f"ram://semantics-{uuid.uuid4().hex[:8]}"
    tf.io.gfile.makedirs(path)
    yield path
    tf.io.gfile.rmtree(path)


def test_retry_is_bounded():
    calls, pauses = [], []

    def flaky():
        calls.append(1)
        raise tf.errors.UnavailableError(None, None, "503")

    with pytest.raises(tf.errors.UnavailableError):
        files.retry(flaky, sleep=pauses.append)
    assert len(calls) == files.RETRIES + 1
    assert pauses == [0.5, 1.0, 2.0, 4.0]

    answers = iter([tf.errors.DeadlineExceededError(None, None, "slow"), "ok"])

    def once_slow():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert files.retry(once_slow, sleep=lambda s: None) == "ok"
    with pytest.raises(tf.errors.NotFoundError):  # not transient: raised at once
        files.retry(lambda: files.read_bytes("ram://nowhere/x"), sleep=pauses.append)


def test_publish_dir_copies_saved_model_last(root, monkeypatch):
    source = f"{root}/export/.tmp-1-2"
    for name in ("saved_model.pb", "variables/variables.index", "assets.extra/pipeline.config"):
        files.makedirs(f"{source}/{name}".rsplit("/", 1)[0])
        files.write_text(f"{source}/{name}", name)
    copied = []
    real_copy = files.copy
    monkeypatch.setattr(files, "copy", lambda a, b, overwrite=False: (copied.append(b), real_copy(a, b, overwrite)))
    files.publish_dir(source, f"{root}/export/1", last=("saved_model.pb",))
    assert copied[-1] == f"{root}/export/1/saved_model.pb" and len(copied) == 3
    assert not files.exists(f"{source}/saved_model.pb")
    assert files.read_text(f"{root}/export/1/variables/variables.index") == "variables/variables.index"


def test_retire_dir_deletes_saved_model_first(root, monkeypatch):
    version = f"{root}/export/7"
    for name in ("saved_model.pb", "variables/variables.index"):
        files.makedirs(f"{version}/{name}".rsplit("/", 1)[0])
        files.write_text(f"{version}/{name}", "x")
    removed = []
    real_remove = files.remove
    monkeypatch.setattr(files, "remove", lambda p, missing_ok=True: (removed.append(p), real_remove(p)))
    files.retire_dir(version, f"{root}/export/.deleting-7", first=("saved_model.pb",))
    assert removed == [f"{version}/saved_model.pb"]
    assert not files.exists(f"{version}/variables/variables.index")


def test_atomic_write_leaves_no_temporary(root):
    files.write_text(f"{root}/a.json", "1")
    files.write_text(f"{root}/a.json", "2")
    assert files.read_text(f"{root}/a.json") == "2" and files.listdir(root) == ["a.json"]
    with pytest.raises(RuntimeError):
        with files.atomic_writer(f"{root}/b.csv") as f:
            f.write("half")
            raise RuntimeError("killed")
    assert files.listdir(root) == ["a.json"]  # neither b.csv nor its temporary


def test_create_exclusive_without_o_excl(root):
    path = f"{root}/run.lock"
    assert files.create_exclusive(path, "first", settle_seconds=0)
    assert not files.create_exclusive(path, "second", settle_seconds=0)
    assert files.read_text(path) == "first"


def test_identity_without_mtimes_follows_content(root):
    path = f"{root}/part-0.csv"
    files.write_text(path, "a,b\n1,2\n")
    assert files.stat(path).mtime_nsec == 0  # ram:// keeps no times
    first = files.identity(path)
    assert first == files.identity(path) and first[0] == 8 and first[1].startswith("crc32:")
    files.write_text(path, "a,b\n1,3\n")
    assert files.identity(path) != first


def test_ram_prefix_is_not_a_directory(root):
    files.write_text(f"{root}/ckpt-7.index", "x")
    assert tf.io.gfile.isdir(f"{root}/ckpt-7")  # TensorFlow's ram:// matches prefixes
    assert not files.isdir(f"{root}/ckpt-7")
    files.makedirs(f"{root}/empty")
    assert files.isdir(f"{root}/empty")


def test_scheme_table():
    assert schemes.scheme("gs://b/x") == "gs" and schemes.scheme("/tmp/x") == ""
    assert schemes.tensorflow_knows("gs://b/x") and schemes.tensorflow_knows("/tmp/x")
    assert not schemes.tensorflow_knows("s3://b/x") and schemes.needs_arrow("s3://b/x")
    assert not schemes.get("gs://b/x").atomic_dir_rename and schemes.get("/x").exclusive_create


def test_unknown_scheme_is_one_paragraph():
    with pytest.raises(ConfigError) as raised:
        preflight.check_tensorflow_path("gss://bucket/model", "model_dir", write=True)
    text = str(raised.value)
    assert text.startswith("model_dir: 'gss://bucket/model' is on gss://, a file system TensorFlow")
    assert "No easyrank file layer knows gss://" in text and "\n" not in text


def test_unwritable_model_dir_is_one_paragraph(root, monkeypatch):
    def refuse(path, data):
        raise tf.errors.PermissionDeniedError(None, None, f"Error executing an HTTP request: HTTP response "
                                              f"code 403 with body 'no storage.objects.create access'\n\tat {path}")

    monkeypatch.setattr(files, "write_bytes", refuse)
    with pytest.raises(ConfigError) as raised:
        preflight.check_tensorflow_path(f"{root}/model", "model_dir", write=True)
    text = str(raised.value)
    assert text.startswith(f"model_dir: cannot write under '{root}/model': Error executing an HTTP request: "
                           "HTTP response code 403")
    assert "credentials" in text and "read-only" in text and "\n" not in text

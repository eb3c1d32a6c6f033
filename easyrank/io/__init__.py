"""The file layer: tf.io.gfile for every user path, pyarrow.fs for Parquet (files.py, arrow.py),
and what each storage scheme offers (schemes.py)."""

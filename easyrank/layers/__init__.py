"""Plain tf_keras layers. They take Python arguments and know nothing of protos."""

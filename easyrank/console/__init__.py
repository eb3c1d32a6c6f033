"""What the command-line tools share: flags, quiet logging, one-paragraph errors, exit codes."""

from easyrank.console.app import (
                                  EXIT_CLUSTER,
                                  EXIT_CONFIG,
                                  EXIT_DATA,
                                  EXIT_OTHER,
                                  check_pipeline_config,
                                  cluster_error_message,
                                  data_error_message,
                                  define_config_flags,
                                  load_pipeline_config,
                                  run,
)

__all__ = ["EXIT_CLUSTER", "EXIT_CONFIG", "EXIT_DATA", "EXIT_OTHER", "check_pipeline_config",
           "cluster_error_message", "data_error_message", "define_config_flags", "load_pipeline_config",
           "run"]

"""python -m easyrank.launch --num_workers N [--num_ps M] [--evaluator] -- <train args>

Runs a local tf.distribute cluster on 127.0.0.1, one process per task
(easyrank/training/local_cluster.py; docs/distributed.md).
"""

import argparse
import signal
import sys

from easyrank.training.local_cluster import launch


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--" in argv:
        split = argv.index("--")
        own, train_args = argv[:split], argv[split + 1:]
    else:
        own, train_args = argv, []
    parser = argparse.ArgumentParser(
        prog="python -m easyrank.launch",
        description="Run a local tf.distribute cluster; arguments after -- go to every task.")
    parser.add_argument("--num_workers", type=int, default=2, help="Worker tasks (>= 1).")
    parser.add_argument("--num_ps", type=int, default=0,
                        help="Parameter servers; > 0 adds a chief (ParameterServerStrategy).")
    parser.add_argument("--evaluator", action="store_true",
                        help="Add an evaluator task: it evaluates each new checkpoint while the "
                             "workers train, exports (BEST) and decides early stopping.")
    parser.add_argument("--module", default="easyrank.train", help="Module every task runs.")
    parser.add_argument("--timeout_seconds", type=float, default=0,
                        help="Stop everything after this long (exit code 124); 0: no limit.")
    parser.add_argument("--grace_seconds", type=float, default=120,
                        help="How long workers may run on after the chief is done.")
    args = parser.parse_args(own)
    if args.num_workers < 1 or args.num_ps < 0:
        parser.error("--num_workers must be >= 1 and --num_ps >= 0.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return launch(args.num_workers, args.num_ps, train_args, module=args.module,
                      timeout=args.timeout_seconds, grace=args.grace_seconds,
                      evaluator=args.evaluator)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

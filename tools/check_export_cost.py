"""CPU seconds of one check_export (easyrank/serving/checks.py check(), as the tests call it).

Prints, per repeat, the CPU of this process inside check() (parsing the rows, the
model rebuilt in memory, easyrank.predict), the CPU of the processes it starts (the
fresh serving process and the C++ loader) and the wall time. CPU, not wall: it
stays comparable on a loaded machine. With --pythonpath A,B the repeats alternate
between two source trees (before and after a change), each in its own process.

    python tools/check_export_cost.py /tmp/x/export --repeats 3 --pythonpath /tmp/old,.

With --checks N each process checks the export N times (as a test process checks several
exports); --modes separate,shared alternates starting both processes for each check
(check_export's way) with one serving process and one C++ loader for all N
(easyrank/serving/check_processes.py); CPU is for all N together.
"""

import argparse
import os
import re
import subprocess
import sys

ONE = """
import resource, sys, time
sys.path[0] = sys.argv[3]  # the tree measured (python -c puts the working directory first)
import easyrank  # noqa: F401  (before tensorflow)
from easyrank.serving import checks
print(checks.__file__)
shared = None
if sys.argv[5] == "1":
    from easyrank.serving.check_processes import CheckProcesses
    shared = CheckProcesses()
before, children, wall = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
problems = []
for _ in range(int(sys.argv[4])):
    problems += checks.check(sys.argv[1], num_rows=int(sys.argv[2]), cc_check=True, processes=shared)[0]
if shared is not None:
    shared.close()
after = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"RESULT {time.process_time() - before:.2f} "
      f"{after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime:.2f} "
      f"{time.time() - wall:.1f} {len(problems)}")
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export")
    parser.add_argument("--num_rows", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pythonpath", default=".", help="comma-separated source trees, alternated")
    parser.add_argument("--checks", type=int, default=1, help="checks of the export in each process")
    parser.add_argument("--modes", default="separate", help="separate,shared: processes per check or shared")
    args = parser.parse_args()
    trees = [os.path.abspath(t) for t in args.pythonpath.split(",")]
    print("| tree | mode | in-process CPU s | child processes CPU s | total CPU s | wall s | problems |")
    print("|---|---|---:|---:|---:|---:|---:|")
    runs = [(tree, mode) for tree in trees for mode in args.modes.split(",")]
    for _ in range(args.repeats):
        for tree, mode in runs:
            out = subprocess.run([sys.executable, "-c", ONE, args.export, str(args.num_rows), tree,
                                  str(args.checks), "1" if mode == "shared" else "0"],
                                 env=dict(os.environ, PYTHONPATH=tree), capture_output=True, text=True,
                                 timeout=1200)
            if f"{tree}/easyrank" not in out.stdout:
                raise SystemExit(f"{tree}: easyrank was imported from elsewhere:\n{out.stdout[-500:]}")
            found = re.search(r"^RESULT (\S+) (\S+) (\S+) (\S+)$", out.stdout, re.M)
            if found is None:
                raise SystemExit(f"check_export failed in {tree}:\n{out.stderr[-2000:]}")
            own, children, wall, problems = found.groups()
            total = float(own) + float(children)
            print(f"| {tree} | {mode} | {own} | {children} | {total:.2f} | {wall} | {problems} |")


if __name__ == "__main__":
    main()

"""python -m easyrank.check_export DIR [--input_path X] [--num_rows 64] [--tolerance 1e-5] [--skip_cc_loader]

Checks that an export will load and answer in TF Serving, where no
tensorflow_model_server is installed (easyrank/serving/checks.py lists the
checks). DIR is a version directory or an export base directory (its highest
version is checked). Exit code 0 only when every check ran and passed, 1
otherwise (each problem is printed). A check that cannot run here (the C++
loader without a compiler) is a problem unless it is skipped explicitly with
--skip_cc_loader; a skipped check is named in the report.
"""

from absl import flags

from easyrank import console

flags.DEFINE_string("input_path", None, "Rows to compare on (default: the config's eval data).")
flags.DEFINE_integer("num_rows", 64, "Rows to compare on.")
flags.DEFINE_float("tolerance", 1e-5, "Largest allowed difference of scores (relative above 1).")
flags.DEFINE_bool("skip_cc_loader", False, "Skip loading and running the export with C++ "
                  "tensorflow::LoadSavedModel (compiled once against the tensorflow wheel). Without "
                  "this flag a loader that cannot be built (no g++) fails the check.")
flags.DEFINE_list("import_modules", [], "Modules of the export's pipeline.config (import_modules) "
                  "to import, so that the model is rebuilt in memory and its scores compared; "
                  "without them that comparison is skipped (serving needs no module).")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) != 2:
        raise SystemExit("usage: python -m easyrank.check_export DIR [--input_path X] [--num_rows N]")
    from easyrank.config.modules import import_modules, unasked
    from easyrank.serving import checks, saved_model
    # The layers of custom blocks, for the model rebuilt in memory (serving needs none of them):
    # only those named on the command line; an export alone never makes code run.
    config = saved_model.read_pipeline_config(saved_model.resolve_version_dir(argv[1]))
    refused = [name for _, name in unasked(config, FLAGS.import_modules)]
    import_modules([n for n in config.import_modules if n not in refused])
    if config.model_config.HasField("retrieval"):  # three SavedModels: serving/retrieval_checks.py
        from easyrank.serving import retrieval_checks
        problems, lines = retrieval_checks.check(argv[1], FLAGS.input_path, FLAGS.num_rows, FLAGS.tolerance,
                                                 cc_check=not FLAGS.skip_cc_loader)
    else:
        problems, lines = checks.check(argv[1], FLAGS.input_path, FLAGS.num_rows, FLAGS.tolerance,
                                       cc_check=True, skip_cc_loader=FLAGS.skip_cc_loader,
                                       in_memory=not refused)
    if refused:
        lines.append(f"SKIPPED: the comparison with the model rebuilt in memory: the export's "
                     f"pipeline.config lists import_modules {', '.join(refused)}, which run code "
                     f"when imported; pass --import_modules {','.join(refused)} to import them.")
    print("\n".join(lines))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    passed = ("OK: the export passes every check but the C++ loader's, which was skipped "
              "(--skip_cc_loader)." if FLAGS.skip_cc_loader else "OK: the export passes every check.")
    print(passed if not problems else f"FAILED: {len(problems)} problems.")
    return 0 if not problems else 1


if __name__ == "__main__":
    console.run(main)

#!/usr/bin/env python3
"""Prepare the Census-Income (KDD) sample data shipped in samples/data/census/.

Reads the UCI Census-Income (KDD) test file (``census-income.test.gz``, 99,762
rows, 42 comma-separated fields, no header) and writes

* ``samples/data/census/{train,eval,test}.csv.gz``: a random 80/10/10 split,
* ``samples/data/census/README.md``: source, licence, split, statistics,
* ``tests/data/census_tiny.csv``: the first 200 rows of the train split.

Split: ``idx = list(range(n)); random.Random(2024).shuffle(idx)``; the first
``int(0.8 * n)`` shuffled indices are train, the next ``int(0.1 * n)`` eval and
the rest test. Rows are written in that shuffled order.

Only the standard library is used; gzip output is written with mtime=0 and no
file name in the header, so the output bytes are deterministic.

Regenerate (from the repository root)::

    python tools/prepare_census.py \
        --input /work/shared/datasets/census_income_kdd/census-income.test.gz
"""

import argparse
import csv
import gzip
import io
import math
import os
import random
import sys

DEFAULT_INPUT = '/work/shared/datasets/census_income_kdd/census-income.test.gz'
DEFAULT_OUTPUT_DIR = os.path.join('samples', 'data', 'census')
DEFAULT_FIXTURE = os.path.join('tests', 'data', 'census_tiny.csv')
SEED = 2024
FIXTURE_ROWS = 200

# The 42 original columns, in file order.
RAW_COLUMNS = [
    'age', 'class_worker', 'det_ind_code', 'det_occ_code', 'education',
    'wage_per_hour', 'hs_college', 'marital_stat', 'major_ind_code',
    'major_occ_code', 'race', 'hisp_origin', 'sex', 'union_member',
    'unemp_reason', 'full_or_part_emp', 'capital_gains', 'capital_losses',
    'stock_dividends', 'tax_filer_stat', 'region_prev_res', 'state_prev_res',
    'det_hh_fam_stat', 'det_hh_summ', 'instance_weight', 'mig_chg_msa',
    'mig_chg_reg', 'mig_move_reg', 'mig_same', 'mig_prev_sunbelt', 'num_emp',
    'fam_under_18', 'country_father', 'country_mother', 'country_self',
    'citizenship', 'own_or_self', 'vet_question', 'vet_benefits',
    'weeks_worked', 'year', 'income',
]
assert len(RAW_COLUMNS) == 42

NUMERIC_COLUMNS = [
    'age', 'wage_per_hour', 'capital_gains', 'capital_losses',
    'stock_dividends', 'num_emp', 'weeks_worked',
]
WEIGHT_COLUMN = 'instance_weight'
LABEL_COLUMNS = ['income_gt_50k', 'never_married']
FEATURE_COLUMNS = [c for c in RAW_COLUMNS if c != 'income']
OUTPUT_COLUMNS = FEATURE_COLUMNS + LABEL_COLUMNS
CATEGORICAL_COLUMNS = [
    c for c in FEATURE_COLUMNS if c not in NUMERIC_COLUMNS and c != WEIGHT_COLUMN
]

_INCOME_INDEX = RAW_COLUMNS.index('income')
_MARITAL_INDEX = RAW_COLUMNS.index('marital_stat')


def parse_line(line, line_no=None):
    """Splits one raw line into 42 whitespace-stripped values.

    A comma inside a value would show up as a wrong field count; that and any
    quote character make this fail loudly.
    """
    line = line.rstrip('\r\n')
    values = [v.strip() for v in line.split(',')]
    where = ' (line %d)' % line_no if line_no is not None else ''
    if len(values) != len(RAW_COLUMNS):
        raise ValueError('expected %d comma-separated fields, got %d%s: %r'
                         % (len(RAW_COLUMNS), len(values), where, line[:200]))
    for v in values:
        if '"' in v or '\n' in v or '\r' in v:
            raise ValueError('unexpected quote/newline in value %r%s' % (v, where))
    return values


def read_raw_lines(lines):
    """Parses an iterable of raw text lines (blank lines are skipped)."""
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        rows.append(parse_line(line, i))
    return rows


def read_raw(path):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rt', encoding='utf-8', newline='') as f:
        return read_raw_lines(f)


def income_label(income):
    return 1 if income == '50000+.' else 0


def never_married_label(marital_stat):
    return 1 if marital_stat == 'Never married' else 0


def to_output_row(values):
    """Raw 42 values -> 41 features (income dropped) + 2 labels (as strings)."""
    out = values[:_INCOME_INDEX] + values[_INCOME_INDEX + 1:]
    out.append(str(income_label(values[_INCOME_INDEX])))
    out.append(str(never_married_label(values[_MARITAL_INDEX])))
    for v in out:
        if ',' in v:
            raise ValueError('comma inside value %r' % v)
    return out


def split_indices(n, seed=SEED, fractions=(0.8, 0.1)):
    """Random 80/10/10 split of range(n): returns (train, eval, test) index lists."""
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    n_train = int(fractions[0] * n)
    n_eval = int(fractions[1] * n)
    return idx[:n_train], idx[n_train:n_train + n_eval], idx[n_train + n_eval:]


def write_csv(f, header, rows):
    w = csv.writer(f, lineterminator='\n')
    w.writerow(header)
    w.writerows(rows)


def write_csv_gz(path, header, rows):
    """Writes a gzip'ed CSV with deterministic bytes (mtime=0, no file name)."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'wb') as raw:
        with gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0,
                           compresslevel=9) as gz:
            with io.TextIOWrapper(gz, encoding='utf-8', newline='') as text:
                write_csv(text, header, rows)


def _mean_std(xs):
    n = len(xs)
    mean = math.fsum(xs) / n
    var = math.fsum((x - mean) ** 2 for x in xs) / n  # population std
    return mean, math.sqrt(var)


def numeric_stats(rows, columns=OUTPUT_COLUMNS):
    """min/max/mean/std and mean/std of log1p for each numeric column."""
    stats = {}
    for name in NUMERIC_COLUMNS:
        j = columns.index(name)
        xs = [float(r[j]) for r in rows]
        logs = [math.log1p(x) for x in xs]
        mean, std = _mean_std(xs)
        lmean, lstd = _mean_std(logs)
        stats[name] = dict(min=min(xs), max=max(xs), mean=mean, std=std,
                           log1p_mean=lmean, log1p_std=lstd)
    return stats


def categorical_cardinality(rows, columns=OUTPUT_COLUMNS):
    out = {}
    for name in CATEGORICAL_COLUMNS:
        j = columns.index(name)
        out[name] = len(set(r[j] for r in rows))
    return out


def split_summary(rows, columns=OUTPUT_COLUMNS):
    n = len(rows)
    out = {'rows': n}
    for name in LABEL_COLUMNS:
        j = columns.index(name)
        pos = sum(1 for r in rows if r[j] == '1')
        out[name] = (pos, pos / n if n else float('nan'))
    return out


def prepare(raw_rows, seed=SEED):
    """Raw rows -> dict split name -> list of output rows (shuffled order)."""
    out_rows = [to_output_row(v) for v in raw_rows]
    tr, ev, te = split_indices(len(out_rows), seed)
    return {
        'train': [out_rows[i] for i in tr],
        'eval': [out_rows[i] for i in ev],
        'test': [out_rows[i] for i in te],
    }


def _fmt(x):
    if x == int(x) and abs(x) < 1e15:
        return '%d' % x
    return '%.4f' % x


def render_tables(splits, stats, cards):
    lines = ['| split | rows | income_gt_50k positives | rate | never_married positives | rate |',
             '|---|---:|---:|---:|---:|---:|']
    for name in ('train', 'eval', 'test'):
        s = split_summary(splits[name])
        lines.append('| %s | %d | %d | %.4f | %d | %.4f |' % (
            name, s['rows'], s['income_gt_50k'][0], s['income_gt_50k'][1],
            s['never_married'][0], s['never_married'][1]))
    lines.append('')
    lines.append('Numeric columns, over the train split (std is the population std):')
    lines.append('')
    lines.append('| column | min | max | mean | std | log1p mean | log1p std |')
    lines.append('|---|---:|---:|---:|---:|---:|---:|')
    for name in NUMERIC_COLUMNS:
        s = stats[name]
        lines.append('| %s | %s | %s | %.4f | %.4f | %.4f | %.4f |' % (
            name, _fmt(s['min']), _fmt(s['max']), s['mean'], s['std'],
            s['log1p_mean'], s['log1p_std']))
    lines.append('')
    lines.append('Categorical columns, number of distinct values in the train split:')
    lines.append('')
    lines.append('| column | distinct values |')
    lines.append('|---|---:|')
    for name in CATEGORICAL_COLUMNS:
        lines.append('| %s | %d |' % (name, cards[name]))
    return '\n'.join(lines)


README_TEMPLATE = """\
# Census-Income (KDD) sample data

Generated by `tools/prepare_census.py`; do not edit by hand.

## Source and licence

* Data: UCI Machine Learning Repository, "Census-Income (KDD)"
  (https://archive.ics.uci.edu/ml/datasets/Census-Income+(KDD)), extracted from
  the 1994 and 1995 Current Population Surveys of the U.S. Census Bureau.
* File used: `census-income.test.gz` (the official 99,762-row *test* part) as
  stored in the GitHub repository `drawbridge/keras-mmoe`, path
  `data/census-income.test.gz` (commit 2718f56e4313716fd3a86e9510bc2df0cc366238).
  The 199,523-row training part is not used, so there is no official split
  here; we split the test part ourselves (below).
* Licence: Creative Commons Attribution 4.0 International (CC BY 4.0),
  https://creativecommons.org/licenses/by/4.0/.
  Attribution: "Census-Income (KDD) data set, donated by Terran Lane and Ronny
  Kohavi, UCI Machine Learning Repository, University of California, Irvine,
  https://archive.ics.uci.edu/ml/datasets/Census-Income+(KDD), licensed under
  CC BY 4.0." Changes made: values stripped of surrounding whitespace, the
  `income` column replaced by two 0/1 label columns, header added, rows split
  80/10/10 at random.

## Files

* `train.csv.gz`, `eval.csv.gz`, `test.csv.gz`: CSV with a header row,
  comma-separated, no quoting needed (no value contains a comma).
* `tests/data/census_tiny.csv` (repository root): the first %(fixture_rows)d
  rows of `train.csv.gz`, uncompressed, for fast unit tests.

Values are the original strings with surrounding whitespace removed and
otherwise unchanged: `?` (unknown) and `NA` (a `hisp_origin` category) are
ordinary category strings; read them as strings, not as missing values.

## Split

`idx = list(range(n)); random.Random(%(seed)d).shuffle(idx)` with n = %(n)d (Python's
`random` module, Mersenne Twister); the first `int(0.8*n)` shuffled row
indices form train, the next `int(0.1*n)` eval, the remaining rows test.
Rows are written in the shuffled order.

%(tables)s

## Columns

All 42 original columns except `income`, in the original order, then the two
labels:

| # | column | kind |
|---:|---|---|
%(column_rows)s

* Numeric (7): %(numeric)s. They are heavy-tailed (mostly zeros for
  wage/capital/dividends): `log1p` then normalisation is suggested; the
  statistics above give the means/stds. `age` starts at 0: the survey
  covers children too (`education` = `Children`), which is also why about half of the
  rows (48 %%) have 0 weeks worked.
* `instance_weight`: the CPS sampling weight (float). Not a feature; usable as
  a sample weight.
* Categorical (%(n_cat)d): every other feature column. `det_ind_code`,
  `det_occ_code`, `own_or_self`, `vet_benefits` and `year` are integer codes
  but categorical. `marital_stat` is the source of the `never_married` label:
  drop it from the features when that task is trained.
* Labels: `income_gt_50k` = 1 if `income == "50000+."` else 0;
  `never_married` = 1 if `marital_stat == "Never married"` else 0
  (the MMoE paper's group-1 tasks).

## Regenerate

From the repository root (standard library only):

```
python tools/prepare_census.py --input /work/shared/datasets/census_income_kdd/census-income.test.gz
```

Output is byte-for-byte deterministic (gzip mtime=0).
"""


def render_readme(splits, stats, cards, seed=SEED):
    column_rows = []
    for i, name in enumerate(OUTPUT_COLUMNS, 1):
        if name in NUMERIC_COLUMNS:
            kind = 'numeric'
        elif name == WEIGHT_COLUMN:
            kind = 'sample weight (numeric)'
        elif name in LABEL_COLUMNS:
            kind = 'label (0/1)'
        else:
            kind = 'categorical'
        column_rows.append('| %d | %s | %s |' % (i, name, kind))
    return README_TEMPLATE % dict(
        fixture_rows=FIXTURE_ROWS,
        tables=render_tables(splits, stats, cards),
        column_rows='\n'.join(column_rows),
        numeric=', '.join('`%s`' % c for c in NUMERIC_COLUMNS),
        n_cat=len(CATEGORICAL_COLUMNS),
        seed=seed,
        n=sum(len(v) for v in splits.values()),
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--input', default=DEFAULT_INPUT,
                   help='census-income.test.gz (42 fields, no header)')
    p.add_argument('--output_dir', default=DEFAULT_OUTPUT_DIR)
    p.add_argument('--fixture', default=DEFAULT_FIXTURE,
                   help='path of the tiny uncompressed fixture ("" to skip)')
    p.add_argument('--seed', type=int, default=SEED)
    args = p.parse_args(argv)

    raw_rows = read_raw(args.input)
    splits = prepare(raw_rows, args.seed)
    for name in ('train', 'eval', 'test'):
        write_csv_gz(os.path.join(args.output_dir, name + '.csv.gz'),
                     OUTPUT_COLUMNS, splits[name])
    if args.fixture:
        os.makedirs(os.path.dirname(args.fixture) or '.', exist_ok=True)
        with open(args.fixture, 'w', encoding='utf-8', newline='') as f:
            write_csv(f, OUTPUT_COLUMNS, splits['train'][:FIXTURE_ROWS])

    stats = numeric_stats(splits['train'])
    cards = categorical_cardinality(splits['train'])
    with open(os.path.join(args.output_dir, 'README.md'), 'w',
              encoding='utf-8') as f:
        f.write(render_readme(splits, stats, cards, args.seed))
    print('read %d rows from %s' % (len(raw_rows), args.input))
    print(render_tables(splits, stats, cards))
    return 0


if __name__ == '__main__':
    sys.exit(main())

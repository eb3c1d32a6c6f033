#!/usr/bin/env python3
"""Prepare the MovieLens latest-small sample data in samples/data/movielens/.

Reads ``ratings.csv`` and ``movies.csv`` (GroupLens ml-latest-small) and writes

* ``train.csv.gz`` / ``valid.csv.gz`` / ``test.csv.gz``: one row per rating with the label,
  movie side features, the user's behaviour sequence (previous up to 50 movies,
  most recent last) and user-activity (cold-start) features;
* ``README.md``: source, licence, columns, split, statistics;
* ``tests/data/movielens_tiny.csv``: 200 evenly spaced rows of the period
  before test (train and valid together, as the train split was before valid
  existed, so the fixture did not change).

Order: all ratings are sorted by (timestamp, original row index). Per-user
features are computed in that order over the full timeline and never look at
the rating itself or later ones. The last ``int(0.2 * n)`` ratings in that
order form the test set; of the rest (the period before test), the last
``int(0.1 * m)`` form the validation set and the others train. Within each file, rows are grouped by
user (ascending user id) and in time order within the user.

Standard library only; gzip output uses mtime=0, so bytes are deterministic.

Regenerate (from the repository root)::

    python tools/prepare_movielens.py
"""

import argparse
import collections
import csv
import gzip
import io
import math
import os
import re
import sys

DEFAULT_INPUT_DIR = os.path.join('samples', 'data', 'movielens', 'raw')
DEFAULT_OUTPUT_DIR = os.path.join('samples', 'data', 'movielens')
DEFAULT_FIXTURE = os.path.join('tests', 'data', 'movielens_tiny.csv')
MAX_HIST = 50
TEST_FRACTION = 0.2
VALID_FRACTION = 0.1  # of the period before test
SPLITS = ('train', 'valid', 'test')
FIXTURE_ROWS = 200
SEQ_SEP = ';'

OUTPUT_COLUMNS = [
    'user_id', 'movie_id', 'rating', 'timestamp', 'label', 'genres',
    'first_genre', 'year', 'hist_movie_id', 'hist_genre', 'hist_len',
    'user_num_ratings', 'user_activity_bucket', 'is_new_user',
    'user_mean_rating', 'user_pos_rate', 'movie_num_ratings', 'movie_pos_rate',
    'hist_rating', 'movie_rating_level',
]
# Appended columns only: configs read these files by header.

_YEAR_RE = re.compile(r'\((\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\)\s*$')

Rating = collections.namedtuple('Rating', 'row user_id movie_id rating timestamp')
Movie = collections.namedtuple('Movie', 'genres first_genre year')


def parse_year(title):
    """'Toy Story (1995)' -> '1995'; '... (2006-2007)' -> '2006'; else ''."""
    m = _YEAR_RE.search(title)
    return m.group(1) if m else ''


def read_movies_rows(rows):
    """Iterable of dicts with movieId/title/genres -> {movie_id: Movie}."""
    movies = {}
    for r in rows:
        genres = r['genres']
        movies[r['movieId']] = Movie(genres, genres.split('|')[0],
                                     parse_year(r['title']))
    return movies


def read_ratings_rows(rows):
    """Iterable of dicts with userId/movieId/rating/timestamp -> [Rating]."""
    return [Rating(i, r['userId'], r['movieId'], r['rating'], int(r['timestamp']))
            for i, r in enumerate(rows)]


def read_inputs(input_dir):
    with open(os.path.join(input_dir, 'movies.csv'), encoding='utf-8',
              newline='') as f:
        movies = read_movies_rows(csv.DictReader(f))
    with open(os.path.join(input_dir, 'ratings.csv'), encoding='utf-8',
              newline='') as f:
        ratings = read_ratings_rows(csv.DictReader(f))
    return ratings, movies


def rating_label(rating):
    return 1 if float(rating) >= 4 else 0


def activity_bucket(n):
    if n == 0:
        return 0
    if n < 5:
        return 1
    if n < 20:
        return 2
    if n < 100:
        return 3
    return 4


def time_order(ratings):
    """Ratings sorted by (timestamp, original row index)."""
    return sorted(ratings, key=lambda r: (r.timestamp, r.row))


def rating_level(mean):
    """A mean rating rounded to the nearest half star, written as in ratings.csv ('3.5')."""
    return '%.1f' % (math.floor(mean * 2 + 0.5) / 2)


def build_features(ratings, movies, max_hist=MAX_HIST):
    """Returns {row index: output row dict} for every rating.

    History and activity are computed per user over the full timeline, in
    (timestamp, row) order, and only from strictly earlier ratings. Movie
    statistics (movie_num_ratings, movie_pos_rate) use only ratings with a
    strictly earlier timestamp (any user). Rates with no past are ''.
    """
    hist = collections.defaultdict(collections.deque)  # user -> last movies
    hist_r = collections.defaultdict(collections.deque)  # their ratings
    count = collections.Counter()                        # user -> #ratings so far
    rating_sum = collections.Counter()                   # user -> sum of ratings
    pos_count = collections.Counter()                    # user -> #ratings >= 4
    movie_n = collections.Counter()      # movie -> #ratings, earlier timestamps
    movie_pos = collections.Counter()    # movie -> #positives, earlier timestamps
    movie_sum = collections.Counter()    # movie -> sum of ratings, earlier timestamps
    pending = []                         # ratings of the current timestamp
    out = {}
    for r in time_order(ratings):
        if pending and pending[0].timestamp != r.timestamp:
            for q in pending:
                movie_n[q.movie_id] += 1
                movie_pos[q.movie_id] += rating_label(q.rating)
                movie_sum[q.movie_id] += float(q.rating)
            pending = []
        pending.append(r)
        movie = movies.get(r.movie_id)
        if movie is None:
            raise KeyError('movie %s of rating row %d not in movies.csv'
                           % (r.movie_id, r.row))
        h = hist[r.user_id]
        n = count[r.user_id]
        mn = movie_n[r.movie_id]
        out[r.row] = {
            'user_id': r.user_id,
            'movie_id': r.movie_id,
            'rating': r.rating,
            'timestamp': r.timestamp,
            'label': rating_label(r.rating),
            'genres': movie.genres,
            'first_genre': movie.first_genre,
            'year': movie.year,
            'hist_movie_id': SEQ_SEP.join(m for m in h),
            'hist_genre': SEQ_SEP.join(movies[m].first_genre for m in h),
            'hist_len': len(h),
            'user_num_ratings': n,
            'user_activity_bucket': activity_bucket(n),
            'is_new_user': 1 if n < 20 else 0,
            'user_mean_rating': '%.4f' % (rating_sum[r.user_id] / n) if n else '',
            'user_pos_rate': '%.4f' % (pos_count[r.user_id] / n) if n else '',
            'movie_num_ratings': mn,
            'movie_pos_rate': '%.4f' % (movie_pos[r.movie_id] / mn) if mn else '',
            'hist_rating': SEQ_SEP.join(hist_r[r.user_id]),
            'movie_rating_level': rating_level(movie_sum[r.movie_id] / mn) if mn else '',
        }
        h.append(r.movie_id)
        hist_r[r.user_id].append(r.rating)
        if len(h) > max_hist:
            h.popleft()
            hist_r[r.user_id].popleft()
        if rating_label(r.rating):
            pos_count[r.user_id] += 1
        rating_sum[r.user_id] += float(r.rating)
        count[r.user_id] = n + 1
    return out


def split_by_time(ratings, test_fraction=TEST_FRACTION,
                  valid_fraction=VALID_FRACTION):
    """(train, valid, test): sets of row indices, in time order.

    test = the last int(test_fraction * n) ratings; valid = the last
    int(valid_fraction * m) of the m ratings before test; train = the rest.
    """
    ordered = time_order(ratings)
    cut = len(ordered) - int(test_fraction * len(ordered))
    valid_cut = cut - int(valid_fraction * cut)
    return (set(r.row for r in ordered[:valid_cut]),
            set(r.row for r in ordered[valid_cut:cut]),
            set(r.row for r in ordered[cut:]))


def _user_key(user_id):
    return (0, int(user_id), '') if user_id.isdigit() else (1, 0, user_id)


def prepare(ratings, movies, max_hist=MAX_HIST, test_fraction=TEST_FRACTION,
            valid_fraction=VALID_FRACTION):
    """{'train', 'valid', 'test', 'before_test'}: lists of row dicts, grouped by user.

    'before_test' is train and valid together (the fixture's source).
    """
    feats = build_features(ratings, movies, max_hist)
    train_rows, valid_rows, test_rows = split_by_time(ratings, test_fraction,
                                                      valid_fraction)
    order = sorted(ratings, key=lambda r: (_user_key(r.user_id), r.timestamp, r.row))
    return {
        'train': [feats[r.row] for r in order if r.row in train_rows],
        'valid': [feats[r.row] for r in order if r.row in valid_rows],
        'test': [feats[r.row] for r in order if r.row in test_rows],
        'before_test': [feats[r.row] for r in order if r.row not in test_rows],
    }


def _cold(rows, seen_rows):
    """Cold-start counts of rows against the users and movies of seen_rows."""
    seen_users = set(r['user_id'] for r in seen_rows)
    seen_movies = set(r['movie_id'] for r in seen_rows)
    cold_users = set(r['user_id'] for r in rows) - seen_users
    return {
        'users': len(set(r['user_id'] for r in rows)),
        'cold_users': len(cold_users),
        'cold_user_rows': sum(1 for r in rows if r['user_id'] in cold_users),
        'cold_movie_rows': sum(1 for r in rows if r['movie_id'] not in seen_movies),
        'cold_movies': len(set(r['movie_id'] for r in rows) - seen_movies),
    }


def split_stats(splits):
    stats = {}
    for name in SPLITS:
        rows = splits[name]
        n = len(rows)
        stats[name] = {
            'rows': n,
            'positives': sum(r['label'] for r in rows),
            'users': len(set(r['user_id'] for r in rows)),
            'movies': len(set(r['movie_id'] for r in rows)),
            'new_user_rows': sum(r['is_new_user'] for r in rows),
            'min_ts': min(r['timestamp'] for r in rows) if rows else None,
            'max_ts': max(r['timestamp'] for r in rows) if rows else None,
        }
    # valid against train; test against everything before it (train + valid).
    stats['cold_valid'] = _cold(splits['valid'], splits['train'])
    stats['cold'] = _cold(splits['test'], splits['train'] + splits['valid'])
    return stats


def _utc(ts):
    import datetime
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        '%Y-%m-%d %H:%M:%S UTC')


def render_stats(stats):
    lines = ['| split | rows | positives (rating >= 4) | positive rate | users | movies | is_new_user rows | first rating | last rating |',
             '|---|---:|---:|---:|---:|---:|---:|---|---|']
    for name in SPLITS:
        s = stats[name]
        lines.append('| %s | %d | %d | %.4f | %d | %d | %d | %s | %s |' % (
            name, s['rows'], s['positives'],
            s['positives'] / s['rows'] if s['rows'] else float('nan'),
            s['users'], s['movies'], s['new_user_rows'],
            _utc(s['min_ts']) if s['rows'] else '', _utc(s['max_ts']) if s['rows'] else ''))
    for key, name, before in (('cold_valid', 'valid', 'train'),
                              ('cold', 'test', 'train or valid')):
        c = stats[key]
        t = stats[name]['rows']
        lines.append('')
        lines.append('Cold start in the %s split: %d of its %d users never appear in '
                     '%s; they account for %d of the %d %s rows (%.1f %%). '
                     '%d %s rows (%.1f %%) are of %d movies never rated in %s.' % (
                         name, c['cold_users'], c['users'], before, c['cold_user_rows'],
                         t, name, 100.0 * c['cold_user_rows'] / t if t else 0.0,
                         c['cold_movie_rows'], name,
                         100.0 * c['cold_movie_rows'] / t if t else 0.0,
                         c['cold_movies'], before))
    return '\n'.join(lines)


def write_csv(f, rows):
    w = csv.writer(f, lineterminator='\n')
    w.writerow(OUTPUT_COLUMNS)
    for r in rows:
        w.writerow([r[c] for c in OUTPUT_COLUMNS])


def write_csv_gz(path, rows):
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'wb') as raw:
        with gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0,
                           compresslevel=9) as gz:
            with io.TextIOWrapper(gz, encoding='utf-8', newline='') as text:
                write_csv(text, rows)


def fixture_rows(rows, k=FIXTURE_ROWS):
    """k evenly spaced rows (keeps the file order)."""
    if len(rows) <= k:
        return list(rows)
    step = len(rows) // k
    return [rows[i * step] for i in range(k)]


README_TEMPLATE = """\
# MovieLens latest-small sample data

Generated by `tools/prepare_movielens.py`; do not edit by hand.

## Source and licence

* Data: MovieLens "ml-latest-small" (GroupLens Research, University of
  Minnesota, https://grouplens.org/datasets/movielens/), generated 2018-09-26:
  100,836 ratings by 610 users on 9,742 movies, 1996-03-29 to 2018-09-24.
  Copied from the GitHub repository `AjiLeight/movielens-recommendation-tries`,
  path `ml-latest-small/` (a fake last row `999,999999,5.0,1493846415` that
  repository had appended to `ratings.csv` was removed; the counts match the
  official ones).
* `raw/README.txt`, `raw/ratings.csv`, `raw/movies.csv` are the GroupLens files,
  unchanged (tags.csv and links.csv are not shipped).
* Licence: the GroupLens usage licence in `raw/README.txt` governs these files
  and everything derived from them here. In short: research use; no implied
  endorsement by the University of Minnesota or GroupLens; the data **may be
  redistributed, including transformations, under these same licence
  conditions**; acknowledge the use of the data in publications (cite F. Maxwell
  Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and
  Context. ACM TiiS 5, 4, Article 19); no commercial or revenue-bearing use
  without permission. Read `raw/README.txt` for the full terms.

## Files

* `train.csv.gz`, `valid.csv.gz`, `test.csv.gz`: CSV with a header row (values
  containing no commas; `csv` quoting is used only where needed, and none is
  needed here).
* `genre_embedding.txt`: 20 rows of 8 numbers, the `first_genre` table of a model of
  `samples/configs/movielens_ranking.config` trained on the period before test (train and
  valid: it was made before the validation split existed; the commands are in that
  config), row i for its vocab_list entry i; the sample loads it as a frozen pretrained table.
* `tests/data/movielens_tiny.csv` (repository root): %(fixture_rows)d evenly
  spaced rows of the period before test (train and valid together, grouped by
  user: every `len(train + valid)//%(fixture_rows)d`-th row), uncompressed, for
  fast unit tests. It is the file it was before `valid.csv.gz` existed.

## Columns

| column | meaning |
|---|---|
| `user_id` | `userId` from ratings.csv |
| `movie_id` | `movieId` from ratings.csv |
| `rating` | the rating string as in ratings.csv (0.5 to 5.0, half stars) |
| `timestamp` | Unix seconds (UTC) |
| `label` | 1 if rating >= 4 else 0 |
| `genres` | the movie's genres, `\\|`-separated as in movies.csv (`(no genres listed)` for 34 movies) |
| `first_genre` | first listed genre (movies.csv lists genres in alphabetical order for ~99 %% of multi-genre movies, so this is the alphabetically first genre: Action/Adventure/Comedy dominate) |
| `year` | release year from the title's trailing `(1995)` (first year of a range such as `(2006–2007)`); empty if the title has none |
| `hist_movie_id` | the user's previous up to %(max_hist)d movie ids, oldest first, most recent LAST, joined by `;`; empty for none |
| `hist_genre` | aligned with `hist_movie_id`: the first genre of each history item, joined by `;` |
| `hist_len` | number of items in `hist_movie_id` (0 to %(max_hist)d) |
| `user_num_ratings` | how many ratings the user made before this one (its position in the user's timeline) |
| `user_activity_bucket` | bucket of `user_num_ratings`: 0 for 0, 1 for 1-4, 2 for 5-19, 3 for 20-99, 4 for 100+ |
| `is_new_user` | 1 if `user_num_ratings` < 20 else 0 |
| `user_mean_rating` | mean of the user's previous ratings (4 decimals); empty if none |
| `user_pos_rate` | share of the user's previous ratings that are >= 4; empty if none |
| `movie_num_ratings` | how many ratings of this movie (by any user) have a strictly earlier timestamp |
| `movie_pos_rate` | share of those ratings that are >= 4; empty if none |
| `hist_rating` | aligned with `hist_movie_id`: the user's rating of each history item (as in ratings.csv), joined by `;` |
| `movie_rating_level` | mean rating of this movie over ratings with a strictly earlier timestamp, rounded to the nearest half star (`3.5`); empty if none |

"Before" means earlier in (timestamp, original row order of ratings.csv); a
rating never sees itself or anything later (the movie statistics are stricter:
only ratings with an earlier timestamp). Histories run over the full
timeline, so a test row's history includes the user's earlier test-period
ratings (they happened before it, so this is not leakage).

## Split

All ratings sorted by (timestamp, original row order); the last
`int(0.2 * n)` of them form `test.csv.gz`. Of the `m` ratings before test, the
last `int(0.1 * m)` form `valid.csv.gz` and the rest `train.csv.gz`. So the
three periods follow each other in time: train, then valid, then test. Within
each file, rows are grouped by user (ascending numeric user id) and in time
order within the user.

Samples train on `train.csv.gz` and evaluate on `valid.csv.gz`; design choices
(model variants, attention units, hyperparameters) are made on valid, and
test figures are reported once, for the chosen model, with `eval_input_path`
pointed at `test.csv.gz` (`--eval_input_path` or an edited copy of the config).

%(stats)s

Most test rows come from users who first appear after the cut, so the test set
is mostly a cold-start (new user) evaluation; `user_num_ratings`,
`user_activity_bucket` and `is_new_user` are the personalisation signals for
POSO-style models.

## Regenerate

From the repository root (standard library only):

```
python tools/prepare_movielens.py --input_dir samples/data/movielens/raw --output_dir samples/data/movielens
```

Output is byte-for-byte deterministic (gzip mtime=0).
"""


def render_readme(stats):
    return README_TEMPLATE % dict(fixture_rows=FIXTURE_ROWS, max_hist=MAX_HIST,
                                  stats=render_stats(stats))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--input_dir', default=DEFAULT_INPUT_DIR,
                   help='folder with ratings.csv and movies.csv')
    p.add_argument('--output_dir', default=DEFAULT_OUTPUT_DIR)
    p.add_argument('--fixture', default=DEFAULT_FIXTURE,
                   help='path of the tiny uncompressed fixture ("" to skip)')
    args = p.parse_args(argv)

    ratings, movies = read_inputs(args.input_dir)
    splits = prepare(ratings, movies)
    for name in SPLITS:
        write_csv_gz(os.path.join(args.output_dir, name + '.csv.gz'), splits[name])
    if args.fixture:
        os.makedirs(os.path.dirname(args.fixture) or '.', exist_ok=True)
        with open(args.fixture, 'w', encoding='utf-8', newline='') as f:
            write_csv(f, fixture_rows(splits['before_test']))
    stats = split_stats(splits)
    with open(os.path.join(args.output_dir, 'README.md'), 'w',
              encoding='utf-8') as f:
        f.write(render_readme(stats))
    print('read %d ratings, %d movies from %s' % (len(ratings), len(movies),
                                                   args.input_dir))
    print(render_stats(stats))
    return 0


if __name__ == '__main__':
    sys.exit(main())

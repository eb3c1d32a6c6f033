"""Tests for tools/prepare_census.py and tools/prepare_movielens.py.

They run the scripts' core functions on tiny in-memory inputs, so they need
neither the shared datasets nor the generated sample files.
"""

import csv
import gzip
import io
import os
import sys

import pytest

_TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tools')
sys.path.insert(0, os.path.abspath(_TOOLS))

import prepare_census as pc  # noqa: E402
import prepare_movielens as pm  # noqa: E402

# ----------------------------------------------------------------- census --

def _census_line(age='38', marital='Married-civilian spouse present',
                 income='- 50000.', weight='1032.38'):
    values = ['x%d' % i for i in range(42)]
    for name, v in (('age', age), ('marital_stat', marital), ('income', income),
                    ('instance_weight', weight), ('hisp_origin', 'NA'),
                    ('mig_chg_msa', '?'), ('wage_per_hour', '0'),
                    ('capital_gains', '0'), ('capital_losses', '0'),
                    ('stock_dividends', '0'), ('num_emp', '1'),
                    ('weeks_worked', '52')):
        values[pc.RAW_COLUMNS.index(name)] = v
    # The raw file has a space after every comma.
    return ', '.join(values) + '\n'


def test_census_columns():
    assert len(pc.OUTPUT_COLUMNS) == 43
    assert 'income' not in pc.OUTPUT_COLUMNS
    assert pc.OUTPUT_COLUMNS[-2:] == ['income_gt_50k', 'never_married']
    assert 'instance_weight' in pc.OUTPUT_COLUMNS
    assert len(pc.CATEGORICAL_COLUMNS) == 33
    assert not set(pc.NUMERIC_COLUMNS) & set(pc.CATEGORICAL_COLUMNS)


def test_census_labels_and_values():
    lines = [
        _census_line(income='50000+.', marital='Never married'),
        _census_line(income='- 50000.', marital='Never married'),
        _census_line(income='50000+.', marital='Divorced'),
        _census_line(income='- 50000.', marital='Married-civilian spouse present'),
    ]
    rows = [pc.to_output_row(v) for v in pc.read_raw_lines(lines)]
    col = pc.OUTPUT_COLUMNS.index
    assert [(r[col('income_gt_50k')], r[col('never_married')]) for r in rows] == [
        ('1', '1'), ('0', '1'), ('1', '0'), ('0', '0')]
    r = rows[0]
    assert len(r) == len(pc.OUTPUT_COLUMNS)
    assert r[col('hisp_origin')] == 'NA' and r[col('mig_chg_msa')] == '?'
    assert r[col('instance_weight')] == '1032.38'
    assert r[col('marital_stat')] == 'Never married'


def test_census_strips_only_surrounding_whitespace():
    values = pc.parse_line(_census_line().replace('x35,', ' Foreign born- Not a citizen of U S ,'))
    assert 'Foreign born- Not a citizen of U S' in values


def test_census_comma_inside_value_fails_loudly():
    bad = _census_line().replace('x1,', 'a, b,')  # 43 fields
    with pytest.raises(ValueError):
        pc.read_raw_lines([bad])
    with pytest.raises(ValueError):
        pc.read_raw_lines([_census_line().replace('x1', '"x1"')])


def test_census_split_deterministic_and_proportional():
    a = pc.split_indices(1000, 2024)
    b = pc.split_indices(1000, 2024)
    assert a == b
    tr, ev, te = a
    assert (len(tr), len(ev), len(te)) == (800, 100, 100)
    assert sorted(tr + ev + te) == list(range(1000))
    assert tr != sorted(tr)  # shuffled
    assert pc.split_indices(1000, 7) != a
    tr, ev, te = pc.split_indices(99762, 2024)
    assert (len(tr), len(ev), len(te)) == (79809, 9976, 9977)


def test_census_prepare_and_gzip_deterministic(tmp_path):
    lines = [_census_line(age=str(20 + i), income='50000+.' if i % 5 == 0 else '- 50000.')
             for i in range(50)]
    splits = pc.prepare(pc.read_raw_lines(lines))
    assert [len(splits[k]) for k in ('train', 'eval', 'test')] == [40, 5, 5]
    assert splits == pc.prepare(pc.read_raw_lines(lines))
    p1, p2 = str(tmp_path / 'a.csv.gz'), str(tmp_path / 'b.csv.gz')
    pc.write_csv_gz(p1, pc.OUTPUT_COLUMNS, splits['train'])
    pc.write_csv_gz(p2, pc.OUTPUT_COLUMNS, splits['train'])
    with open(p1, 'rb') as f1, open(p2, 'rb') as f2:
        assert f1.read() == f2.read()
    with gzip.open(p1, 'rt', newline='') as f:
        read = list(csv.reader(f))
    assert read[0] == pc.OUTPUT_COLUMNS and read[1:] == splits['train']
    stats = pc.numeric_stats(splits['train'])
    ages = [float(r[0]) for r in splits['train']]
    assert stats['age']['min'] == min(ages) and stats['age']['max'] == max(ages)
    assert stats['age']['mean'] == pytest.approx(sum(ages) / len(ages))
    assert pc.categorical_cardinality(splits['train'])['sex'] == 1


# -------------------------------------------------------------- movielens --

MOVIES_CSV = """movieId,title,genres
1,Toy Story (1995),Adventure|Animation|Children
2,"Jumanji, The (1995)",Adventure|Fantasy
3,No Year Movie,Comedy
4,Some Series (2006\u20132007),Drama|Crime
5,Blank,(no genres listed)
"""


def _movies():
    return pm.read_movies_rows(csv.DictReader(io.StringIO(MOVIES_CSV)))


def _ratings(rows):
    """rows: (user, movie, rating, ts) tuples in file order."""
    text = 'userId,movieId,rating,timestamp\n' + ''.join(
        '%s,%s,%s,%d\n' % r for r in rows)
    return pm.read_ratings_rows(csv.DictReader(io.StringIO(text)))


def test_movielens_movie_parsing():
    movies = _movies()
    assert movies['1'] == pm.Movie('Adventure|Animation|Children', 'Adventure', '1995')
    assert movies['2'].year == '1995'
    assert movies['3'].year == ''
    assert movies['4'].year == '2006' and movies['4'].first_genre == 'Drama'
    assert movies['5'].first_genre == '(no genres listed)'


def test_movielens_labels_and_buckets():
    assert [pm.rating_label(r) for r in ('0.5', '3.5', '4.0', '5.0')] == [0, 0, 1, 1]
    assert [pm.activity_bucket(n) for n in (0, 1, 4, 5, 19, 20, 99, 100, 2000)] == [
        0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_movielens_history_order_and_no_future():
    # user 7's ratings out of time order in the file, with a timestamp tie
    # (broken by row order) and another user interleaved.
    ratings = _ratings([
        ('7', '3', '4.0', 300),   # row 0
        ('7', '1', '5.0', 100),   # row 1
        ('8', '2', '2.0', 150),   # row 2
        ('7', '2', '3.0', 200),   # row 3
        ('7', '4', '4.5', 200),   # row 4: same ts as row 3, later row
        ('7', '5', '1.0', 400),   # row 5
    ])
    feats = pm.build_features(ratings, _movies())
    assert feats[1]['hist_movie_id'] == '' and feats[1]['hist_len'] == 0
    assert feats[3]['hist_movie_id'] == '1'
    assert feats[4]['hist_movie_id'] == '1;2'
    assert feats[0]['hist_movie_id'] == '1;2;4'          # most recent last
    assert feats[0]['hist_genre'] == 'Adventure;Adventure;Drama'
    assert feats[5]['hist_movie_id'] == '1;2;4;3'
    assert feats[5]['hist_genre'] == 'Adventure;Adventure;Drama;Comedy'
    assert feats[2]['hist_movie_id'] == ''               # other user's history
    assert [feats[i]['user_num_ratings'] for i in (1, 3, 4, 0, 5)] == [0, 1, 2, 3, 4]
    assert feats[0]['label'] == 1 and feats[3]['label'] == 0
    assert feats[0]['genres'] == 'Comedy' and feats[0]['year'] == ''
    for f in feats.values():
        assert f['movie_id'] not in f['hist_movie_id'].split(';')


def test_movielens_rating_statistics_use_only_the_past():
    ratings = _ratings([
        ('7', '1', '5.0', 100),   # row 0
        ('8', '1', '2.0', 100),   # row 1: same timestamp as row 0
        ('7', '2', '3.0', 200),   # row 2
        ('8', '1', '4.0', 300),   # row 3
        ('9', '1', '1.0', 400),   # row 4
    ])
    feats = pm.build_features(ratings, _movies())
    # User statistics: the user's strictly earlier ratings.
    assert feats[0]['user_mean_rating'] == '' and feats[0]['user_pos_rate'] == ''
    assert feats[2]['user_mean_rating'] == '5.0000' and feats[2]['user_pos_rate'] == '1.0000'
    assert feats[3]['user_mean_rating'] == '2.0000' and feats[3]['user_pos_rate'] == '0.0000'
    assert feats[2]['hist_rating'] == '5.0' and feats[0]['hist_rating'] == ''
    # Movie statistics: any user's ratings with a strictly earlier timestamp (a tie is not seen).
    assert feats[1]['movie_num_ratings'] == 0 and feats[1]['movie_pos_rate'] == ''
    assert feats[1]['movie_rating_level'] == ''
    assert feats[3]['movie_num_ratings'] == 2 and feats[3]['movie_pos_rate'] == '0.5000'
    assert feats[3]['movie_rating_level'] == '3.5'                 # mean 3.5
    assert feats[4]['movie_num_ratings'] == 3 and feats[4]['movie_rating_level'] == '3.5'  # 11/3


def test_movielens_rating_level_rounds_to_half_stars():
    assert [pm.rating_level(x) for x in (0.5, 3.24, 3.25, 3.74, 3.75, 5.0)] == \
        ['0.5', '3.0', '3.5', '3.5', '4.0', '5.0']


def test_movielens_truncation_alignment_and_new_user():
    movies = _movies()
    n = 130
    ratings = _ratings([('1', str(i % 5 + 1), '4.0', 1000 + i) for i in range(n)])
    feats = pm.build_features(ratings, movies)
    for i in range(n):
        f = feats[i]
        hist = f['hist_movie_id'].split(';') if f['hist_movie_id'] else []
        genres = f['hist_genre'].split(';') if f['hist_genre'] else []
        assert f['hist_len'] == len(hist) == min(i, 50)
        assert hist == [str(j % 5 + 1) for j in range(max(0, i - 50), i)]
        assert genres == [movies[m].first_genre for m in hist]
        assert f['user_num_ratings'] == i
        assert f['is_new_user'] == (1 if i < 20 else 0)
        assert f['user_activity_bucket'] == pm.activity_bucket(i)
    assert feats[n - 1]['hist_len'] == 50


def test_movielens_time_split():
    # 10 ratings, timestamps descending in file order: the test set is the
    # two latest ones, i.e. the first two rows of the file.
    # valid is the latest int(0.1 * 8) = 0 of the 8 before test.
    ratings = _ratings([('%d' % (i % 3 + 1), '1', '4.0', 1000 - i) for i in range(10)])
    train, valid, test = pm.split_by_time(ratings)
    assert test == {0, 1} and valid == set() and train == set(range(2, 10))
    ratings = _ratings([('1', '1', '4.0', 5)] * 20)  # all ties: row order decides
    train, valid, test = pm.split_by_time(ratings)
    assert test == {16, 17, 18, 19} and valid == {15} and train == set(range(15))
    # 30 ratings in reverse time order: test = 6 latest, valid = 2 just before them.
    ratings = _ratings([('1', '1', '4.0', 1000 - i) for i in range(30)])
    train, valid, test = pm.split_by_time(ratings)
    assert test == set(range(6)) and valid == {6, 7} and train == set(range(8, 30))


def test_movielens_prepare_and_stats():
    rows = []
    for u in range(1, 6):                      # users 1..5 rate early
        for k in range(8):
            rows.append((str(u), str(k % 5 + 1), '4.0' if k % 2 else '2.0', 100 * k + u))
    for k in range(10):                        # user 9 only late
        rows.append(('9', str(k % 5 + 1), '5.0', 10000 + k))
    ratings = _ratings(rows)
    splits = pm.prepare(ratings, _movies())
    # 50 ratings: test = the 10 latest (user 9); valid = the 4 latest of the 40 before.
    assert [len(splits[k]) for k in pm.SPLITS] == [36, 4, 10]
    # the fixture's source: train and valid together, grouped by user as before
    assert splits['before_test'] == sorted(
        splits['train'] + splits['valid'],
        key=lambda r: (int(r['user_id']), r['timestamp']))
    assert max(r['timestamp'] for r in splits['train']) < min(
        r['timestamp'] for r in splits['valid'])
    assert max(r['timestamp'] for r in splits['valid']) < min(
        r['timestamp'] for r in splits['test'])
    assert splits == pm.prepare(ratings, _movies())
    assert all(r['user_id'] == '9' for r in splits['test'])
    # grouped by user, time-ordered within the user
    keys = [(int(r['user_id']), r['timestamp']) for r in splits['train']]
    assert keys == sorted(keys)
    stats = pm.split_stats(splits)
    assert stats['cold']['cold_users'] == 1
    assert stats['cold']['cold_user_rows'] == 10
    assert stats['cold_valid']['cold_users'] == 0
    assert stats['train']['positives'] + stats['valid']['positives'] == 20
    text = io.StringIO()
    pm.write_csv(text, splits['test'])
    read = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert list(read[0].keys()) == pm.OUTPUT_COLUMNS
    assert read[3]['hist_movie_id'] == '1;2;3' and read[3]['is_new_user'] == '1'
    assert len(pm.fixture_rows(splits['train'], 7)) == 7

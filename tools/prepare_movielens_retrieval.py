"""Derives the MovieLens retrieval sample from the shipped ranking split.

    python tools/prepare_movielens_retrieval.py [--source samples/data/movielens]
        [--output samples/data/movielens_retrieval]

Reads samples/data/movielens/{train,test}.csv.gz (written by tools/prepare_movielens.py:
the first 80 % of ratings by time, and the last 20 %) and raw/movies.csv, and writes

  train.csv.gz  liked rows (rating >= 4) of the first 70 % of ratings by time
  valid.csv.gz  liked rows of the next 10 % (the last 1/8 of the ranking train split by
                timestamp): choose designs on this
  test.csv.gz   liked rows of the last 20 % (the ranking test split): report once
  items.csv     the candidate file: every movie of movies.csv (movie_id, genres,
                first_genre, year, train_likes: how often it was liked in train.csv.gz,
                a popularity feature known before the validation and test periods),
                9,742 rows
  movie_vocab.txt  the movie ids of items.csv, one a line (collision-free movie tables)
  user_vocab.txt   the user ids of train.csv.gz, one a line

Each row is a query (the user and their previous up to 50 rated movies, oldest first,
with the first genre of each) and its positive, the movie liked; the columns are those
of samples/data/movielens/README.md, plus train_likes (as in items.csv).
"""

import argparse
import csv
import gzip
import io
import os
import re

COLUMNS = ["user_id", "movie_id", "timestamp", "genres", "first_genre", "year",
           "hist_movie_id", "hist_genre", "user_activity_bucket", "train_likes"]
VALID_SHARE = 1 / 8  # of the ranking train split: 10 % of all ratings


def read_rows(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(path, rows, columns):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row[c] for c in columns])
    data = buffer.getvalue().encode("utf-8")
    if path.endswith(".gz"):
        with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as z:
            z.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def split_by_time(rows, share):
    """(earlier, later): `later` holds the last `share` of rows by timestamp (ties stay together)."""
    stamps = sorted(int(r["timestamp"]) for r in rows)
    cutoff = stamps[int(len(stamps) * (1 - share))]
    return ([r for r in rows if int(r["timestamp"]) < cutoff],
            [r for r in rows if int(r["timestamp"]) >= cutoff])


def items(movies_path):
    out = []
    with open(movies_path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            year = re.search(r"\((\d{4})(?:[-\u2013]\d{4})?\)\s*$", row["title"].strip())
            genres = row["genres"]
            out.append({"movie_id": row["movieId"], "genres": genres,
                        "first_genre": genres.split("|")[0], "year": year.group(1) if year else ""})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="samples/data/movielens")
    parser.add_argument("--output", default="samples/data/movielens_retrieval")
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    train, valid = split_by_time(read_rows(os.path.join(args.source, "train.csv.gz")), VALID_SHARE)
    test = read_rows(os.path.join(args.source, "test.csv.gz"))
    likes = {}
    for row in train:
        if row["label"] == "1":
            likes[row["movie_id"]] = likes.get(row["movie_id"], 0) + 1
    for row in train + valid + test:
        row["train_likes"] = str(likes.get(row["movie_id"], 0))
    for name, rows in (("train", train), ("valid", valid), ("test", test)):
        liked = sorted((r for r in rows if r["label"] == "1"),
                       key=lambda r: (int(r["timestamp"]), int(r["user_id"]), int(r["movie_id"])))
        write_rows(os.path.join(args.output, f"{name}.csv.gz"), liked, COLUMNS)
        print(f"{name}: {len(liked):,} liked rows of {len(rows):,}")
    corpus = items(os.path.join(args.source, "raw", "movies.csv"))
    for row in corpus:
        row["train_likes"] = str(likes.get(row["movie_id"], 0))
    write_rows(os.path.join(args.output, "items.csv"), corpus,
               ["movie_id", "genres", "first_genre", "year", "train_likes"])
    print(f"items: {len(corpus):,}")
    with open(os.path.join(args.output, "movie_vocab.txt"), "w", encoding="utf-8") as f:
        f.writelines(row["movie_id"] + "\n" for row in corpus)
    users = sorted({r["user_id"] for r in train if r["label"] == "1"}, key=int)
    with open(os.path.join(args.output, "user_vocab.txt"), "w", encoding="utf-8") as f:
        f.writelines(u + "\n" for u in users)


if __name__ == "__main__":
    main()

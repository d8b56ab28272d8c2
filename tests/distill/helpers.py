"""Small real data files for the distillation tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

POSITIVE = ["a gorgeous , witty , seductive movie .", "one of the best films of the year .",
            "a charming and heartfelt story .", "an absolute delight from start to finish .",
            "funny , moving and beautifully shot .", "smart , sharp and surprisingly sweet .",
            "a triumph of acting and direction .", "warm , wise and wonderfully played ."]
NEGATIVE = ["the acting is dreadful and the plot is a mess .", "boring , tedious and far too long .",
            "i hated every minute of it .", "the worst script i have seen in years .",
            "a dull , lifeless exercise in cliche .", "painfully unfunny and badly edited .",
            "a tired , clumsy mess of a movie .", "nothing works in this lazy sequel ."]


def sentiment_rows(n_per_class: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n_per_class):
        rows.append({"id": f"p{i}", "review": f"{POSITIVE[i % 8]} ({i})", "stars": "pos"})
        rows.append({"id": f"n{i}", "review": f"{NEGATIVE[i % 8]} ({i})", "stars": "neg"})
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path

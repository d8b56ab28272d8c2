"""The JSONL/CSV loader: formats, column mapping, sampling, streaming and errors."""

import gzip
import json

import pytest

from lmscape.errors import DataError
from lmscape.tasks.registry import get_task


def write_jsonl(path, rows, extra_lines=()):
    lines = [json.dumps(r) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ROWS = [{"review": f"text {i}", "sentiment": "pos" if i % 2 else "NEGATIVE"} for i in range(20)]


@pytest.fixture(scope="module")
def sentiment():
    return get_task("sentiment")


def test_jsonl_with_column_mapping_and_aliases(tmp_path, sentiment):
    path = write_jsonl(tmp_path / "mine.jsonl", ROWS)
    items = list(sentiment.items(data_file=str(path), text_col="review", label_col="sentiment"))
    assert len(items) == 20
    assert items[0].text == "text 0" and items[0].reference == "negative"
    assert items[1].reference == "positive"
    assert items[0].id == "line-1"  # no id column: line numbers


def test_csv_tsv_and_gzip(tmp_path, sentiment):
    csv_path = tmp_path / "mine.csv"
    csv_path.write_text('id,text,label\na1,"good, really good",1\na2,bad,0\n\n', encoding="utf-8")
    items = list(sentiment.items(data_file=str(csv_path)))
    assert [(i.id, i.text, i.reference) for i in items] == [
        ("a1", "good, really good", "positive"), ("a2", "bad", "negative")]
    tsv = tmp_path / "mine.tsv"
    tsv.write_text("text\tlabel\nfine\tpositive\n", encoding="utf-8")
    assert [i.reference for i in sentiment.items(data_file=str(tsv))] == ["positive"]
    gz = tmp_path / "mine.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "ok", "label": "positive"}) + "\n")
    assert len(list(sentiment.items(data_file=str(gz)))) == 1


def test_sample_is_seeded_nested_and_in_file_order(tmp_path, sentiment):
    path = write_jsonl(tmp_path / "mine.jsonl", ROWS)
    kw = {"data_file": str(path), "text_col": "review", "label_col": "sentiment"}
    five = [i.id for i in sentiment.items(limit=5, **kw)]
    ten = [i.id for i in sentiment.items(limit=10, **kw)]
    assert len(five) == 5 and set(five) <= set(ten)
    assert five == [i.id for i in sentiment.items(limit=5, **kw)]
    assert five != [i.id for i in sentiment.items(limit=5, seed=8, **kw)]
    assert ten == sorted(ten, key=lambda s: int(s.split("-")[1]))


def test_streams_without_reading_the_whole_file(tmp_path, sentiment):
    path = write_jsonl(tmp_path / "big.jsonl", [{"text": "a", "label": "positive"}] * 2,
                       extra_lines=["{not json"])
    stream = sentiment.items(data_file=str(path))
    assert next(stream).text == "a"  # the bad line 3 has not been read yet
    next(stream)
    with pytest.raises(DataError, match=r"big\.jsonl, line 3: malformed JSON"):
        next(stream)


@pytest.mark.parametrize(
    ("content", "kwargs", "pattern"),
    [
        ("", {}, r"empty\.jsonl has no items"),
        ("\n\n", {}, r"has no items"),
        ('{"text": "a", "label": "positive"}\n[1, 2]\n', {}, r"line 2: expected a JSON object"),
        ('{"review": "a", "label": "positive"}\n', {}, r"line 1: no column 'text' \(columns: label, review\)"),
        ('{"text": "a", "label": "positive"}\n{"text": "b", "label": "meh"}\n', {},
         r"line 2: label 'meh' is not one of negative, positive"),
        ('{"text": "", "label": "positive"}\n', {}, r"column 'text' is empty"),
    ],
)
def test_bad_files_raise_one_line_data_errors(tmp_path, sentiment, content, kwargs, pattern):
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=pattern) as info:
        list(sentiment.items(data_file=str(path), **kwargs))
    assert info.value.hint  # every data error names its fix
    assert "\n" not in info.value.one_line()


def test_missing_column_hint_names_the_flag(tmp_path, sentiment):
    path = write_jsonl(tmp_path / "x.jsonl", ROWS)
    with pytest.raises(DataError) as info:
        list(sentiment.items(data_file=str(path), text_col="review"))
    assert "--label-col" in info.value.hint


def test_csv_row_with_too_many_cells_and_missing_file(tmp_path, sentiment):
    path = tmp_path / "x.csv"
    path.write_text("text,label\na,positive\nb,negative,extra\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"x\.csv, line 3: 3 cells but the header has 2"):
        list(sentiment.items(data_file=str(path)))
    with pytest.raises(DataError, match="does not exist"):
        list(sentiment.items(data_file=str(tmp_path / "nope.jsonl")))


def test_duplicate_ids_in_a_sample(tmp_path, sentiment):
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": "same", "text": "a", "label": "positive"}] * 3)
    with pytest.raises(DataError, match="appears on lines 1 and 2"):
        list(sentiment.items(data_file=str(path), limit=3))


def test_keywords_and_dialogue_user_files(tmp_path):
    kw = get_task("keywords")
    path = tmp_path / "kw.csv"
    path.write_text('doc,gold\n"A text about graphs","graph theory; trees"\n', encoding="utf-8")
    (item,) = kw.items(data_file=str(path), text_col="doc", label_col="gold")
    assert item.reference == ["graph theory", "trees"]
    jl = write_jsonl(tmp_path / "kw.jsonl", [{"text": "t", "keyphrases": ["a", "b"]}])
    assert next(iter(kw.items(data_file=str(jl)))).reference == ["a", "b"]
    bad = write_jsonl(tmp_path / "kw2.jsonl", [{"text": "t", "keyphrases": []}])
    with pytest.raises(DataError, match="holds no keyphrases"):
        list(kw.items(data_file=str(bad)))

    dlg = get_task("dialogue")
    path = write_jsonl(tmp_path / "d.jsonl", [{"context": "Hi!\nHello, how are you?\nFine.",
                                               "reply": "Great to hear."}])
    (item,) = dlg.items(data_file=str(path), text_col="context", label_col="reply")
    assert item.meta["turns"] == ["Hi!", "Hello, how are you?", "Fine."]
    assert item.text == "A: Hi!\nB: Hello, how are you?\nA: Fine.\n"
    assert item.reference == "Great to hear."

"""Built-in tasks: registry, vendored data, definitions and versions."""

import pytest

from lmscape.errors import ConfigError, NotFoundError
from lmscape.tasks.definition import DATA_DIR
from lmscape.tasks.registry import get_task, list_tasks

COUNTS = {
    ("sentiment", "train"): 6920, ("sentiment", "dev"): 872,
    ("keywords", "train"): 1000, ("keywords", "dev"): 500, ("keywords", "test_public"): 250,
    ("keywords-semeval2017", "public"): 247,
    ("dialogue", "test_freq_public"): 439,
    ("mt-bench", "questions"): 80,
}


def test_list_and_unknown_names():
    assert list_tasks() == ["sentiment", "keywords", "keywords-semeval2017", "dialogue",
                            "mt-bench"]
    with pytest.raises(NotFoundError, match="did you mean 'sentiment'"):
        get_task("sentimnet")
    with pytest.raises(ConfigError, match="no option 'colour'"):
        get_task("keywords", colour="red")
    with pytest.raises(NotFoundError, match="unknown split"):
        list(get_task("sentiment").items("test"))


@pytest.mark.parametrize(("task", "split"), sorted(COUNTS))
def test_vendored_splits_have_the_documented_sizes(task, split):
    t = get_task(task)
    items = list(t.items(split))
    assert len(items) == COUNTS[(task, split)]
    assert len({i.id for i in items}) == len(items)
    assert all(i.text for i in items)


def test_every_dataset_ships_readme_citation_and_licence():
    for folder in ("sst2", "inspec", "semeval2017", "topical_chat", "mt_bench"):
        assert (DATA_DIR / folder / "README.md").read_text().count("icense") >= 1
        assert "@inproceedings" in (DATA_DIR / folder / "CITATION.bib").read_text()
    assert "The IET" in (DATA_DIR / "LICENSES.md").read_text()


def test_definitions_carry_versions_and_defaults():
    s = get_task("sentiment")
    assert (s.version, s.default_split, s.train_split, s.labels) == (
        "1", "dev", "train", ("negative", "positive"))
    k = get_task("keywords")
    assert (k.default_split, k.primary_metric, k.top_n) == ("test_public", "f1@10", 10)
    assert get_task("keywords", top_n=5).top_n == 5
    assert get_task("keywords-semeval2017").train_split is None
    assert get_task("dialogue").lower_is_better == ("perplexity",)
    assert s.dataset_id() == "sst2:dev"

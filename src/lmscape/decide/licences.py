"""How a licence text is classified, for ``--licence`` and the reasons column.

The licence of a model is the catalog's ``licence`` fact; a model-free method's is the
licence its Python distribution declares (``Method.library``, read with
``importlib.metadata``). The text is matched, first match wins:

| class | matches | commercial use | ``--licence commercial`` | ``--licence permissive`` |
|---|---|---|---|---|
| ``non-commercial`` | "research", "non-commercial", "noncommercial", "-NC" | no | excluded | excluded |
| ``permissive`` | Apache, MIT, BSD, ISC, Unlicense | yes, no use restrictions | kept | kept |
| ``copyleft`` | LGPL, GPL, AGPL, MPL | yes; changes to the code are shared alike | kept | excluded |
| ``api-terms`` | "proprietary", "API terms", "Cloud terms" | yes, as a paid service under the provider's terms | kept | excluded |
| ``conditional`` | "Community License", "Terms of Use", "Qwen License", "RAIL" | yes, with conditions (acceptable-use policy; some cap monthly users) | kept | excluded |
| ``unknown`` | anything else, or no licence stated | cannot be confirmed | excluded | excluded |

This reads the licence's name, not its text: the conditions of a ``conditional``
licence (Llama's 700M monthly-user cap, Gemma's prohibited-use policy) still apply and
are the user's to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMERCIAL = frozenset({"permissive", "copyleft", "api-terms", "conditional"})
_RULES: tuple[tuple[str, str], ...] = (
    ("non-commercial", r"research|non-?commercial|\bnc\b|-nc\b"),
    ("copyleft", r"\b(l?gpl|agpl|mpl)|general public licen[cs]e"),
    ("permissive", r"apache|\bmit\b|\bbsd\b|\bisc\b|unlicen[cs]e"),
    ("api-terms", r"proprietary|api terms|cloud terms"),
    ("conditional", r"community licen[cs]e|terms of use|qwen licen[cs]e|rail\b"),
)
_WORDS = {
    "non-commercial": "no commercial use",
    "permissive": "commercial use allowed",
    "copyleft": "commercial use allowed, changes shared alike",
    "api-terms": "commercial use under the provider's terms",
    "conditional": "commercial use with conditions",
    "unknown": "licence not confirmed",
}


@dataclass(frozen=True)
class Licence:
    text: str | None  # as stated ("Apache-2.0", "proprietary (OpenAI API terms)")
    klass: str  # one of the classes in the table above

    @property
    def commercial(self) -> bool:
        return self.klass in COMMERCIAL

    def allows(self, requirement: str | None) -> bool:
        if requirement is None:
            return True
        if requirement == "permissive":
            return self.klass == "permissive"
        return self.commercial

    def describe(self) -> str:
        return f"{self.text or 'no licence stated'}: {_WORDS[self.klass]}"


def classify(text: str | None) -> Licence:
    if not text or not text.strip():
        return Licence(None, "unknown")
    lowered = text.lower()
    for klass, pattern in _RULES:
        if re.search(pattern, lowered):
            return Licence(text.strip(), klass)
    return Licence(text.strip(), "unknown")


def distribution_licence(distribution: str) -> str | None:
    """The licence an installed Python distribution declares (None if not installed)."""
    from importlib import metadata

    try:
        meta = metadata.metadata(distribution)
    except metadata.PackageNotFoundError:
        return None
    stated = meta.get("License-Expression") or meta.get("License")
    if stated and len(stated) < 80:  # some put the whole licence text in this field
        return stated.strip()
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or []
                   if c.startswith("License ::")]
    return classifiers[0] if classifiers else None

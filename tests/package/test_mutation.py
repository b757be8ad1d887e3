"""The planted-bug list of `make mutation` stays applicable (issue 15): each snippet occurs exactly once."""

import pytest

from tools.mutation import MUTANTS, Mutant, snippet_count


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_every_mutant_snippet_occurs_once(mutant: Mutant) -> None:
    assert snippet_count(mutant) == 1, (
        f"mutant {mutant.id}: its snippet is no longer in {mutant.path} exactly once; update tools/mutation.py "
        "to the code's new shape (keep the bug it plants)"
    )
    assert mutant.find != mutant.replace


def test_mutant_ids_are_unique_and_both_sides_are_covered() -> None:
    assert len({m.id for m in MUTANTS}) == len(MUTANTS)
    assert {m.suite for m in MUTANTS} == {"node", "python"}

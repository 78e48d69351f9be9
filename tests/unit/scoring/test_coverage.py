"""Every interval the project prints covers its truth at 95%, and its comparisons reject at no more than 5% when
the methods are equal: simulated studies with the spreads measured on the world, at the default's design, a small
study's and the world study's (conceptbench/scoring/simulation.py; `python bench/coverage.py` prints the table)."""

import math

import pytest

from conceptbench.scoring.simulation import DESIGNS, coverage

REPLICATES = 2000
# 2000 studies: a coverage of 95% is measured to +-0.005 (one standard error); allow three.
COVERAGE = (0.935, 0.965)
REJECTION = 0.05 + 3 * math.sqrt(0.05 * 0.95 / REPLICATES)


@pytest.fixture(scope="module", params=DESIGNS, ids=lambda d: "concepts={}, seeds={}, images={}".format(*d))
def found(request):
    return request.param, coverage(*request.param, replicates=REPLICATES)


def test_the_intervals_cover_their_truth(found):
    (concepts, seeds, _), share = found
    assert COVERAGE[0] <= share["run"] <= COVERAGE[1], share
    assert COVERAGE[0] <= share["run_prompts"] <= COVERAGE[1], share
    if seeds > 1:
        assert COVERAGE[0] <= share["concept"] <= COVERAGE[1], share
    if concepts >= 3:
        assert COVERAGE[0] <= share["method"] <= COVERAGE[1], share
        assert COVERAGE[0] <= share["difference"] <= COVERAGE[1], share


def test_equal_methods_are_rejected_at_no_more_than_five_percent(found):
    (concepts, _, _), share = found
    if concepts < 3:
        # Two concepts: no interval and no test are printed at all.
        assert all(math.isnan(share[key]) for key in ("method", "difference", "rejection", "familywise"))
        return
    assert share["rejection"] <= REJECTION and share["familywise"] <= REJECTION, share

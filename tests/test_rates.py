"""Theorem-rate checks: RateClaim validation, fitted slopes and CIs, verdicts, no-data rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from mdplab.cli import main
from mdplab.lab import Experiment, LabError, Param, RateClaim, ResultStore, check_rates, register
from mdplab.lab.rates import VERDICTS, verdict

XS = np.array([1, 2, 4, 8, 16, 32, 64], dtype=float)
POWERS = {"a": 0.5, "b": 1.0}  # family "c" is in the grid but never stored
NOISE = 0.05  # seed 0 gets y * e^{+NOISE}, seed 1 y * e^{-NOISE}: the fit is exact


def _rows(params, seed):
    p = POWERS[params["family"]]
    sign = 1.0 if seed % 2 == 0 else -1.0
    return [{"x": float(x), "y": float(x**p * math.exp(sign * NOISE)), "const": 1.0}
            for x in XS]


CLAIMS = (
    RateClaim(name="half-upper", x="x", y="y", by="family", where={"family": ("a", "b", "c")},
              claimed=0.5, kind="upper", source="synthetic: y ~ x^0.5 bound"),
    RateClaim(name="one-upper", x="x", y="y", by="family", where={"family": ("a",)},
              claimed=1.0, kind="upper", source="synthetic: loose bound"),
    RateClaim(name="one-match", x="x", y="y", by="family", where={"family": ("a", "b")},
              claimed=1.0, kind="match", source="synthetic: tight rate"),
    RateClaim(name="pooled", x="x", y="y", where={"family": "b"}, claimed=1.0, kind="match"),
    RateClaim(name="last-decade", x="x", y="y", by="family", where={"family": ("a",)},
              fit_decades=1.0, claimed=0.5, kind="upper"),
    RateClaim(name="last-point", x="x", y="y", where={"family": "a"}, fit_decades=0.1,
              claimed=0.5, kind="upper"),
    RateClaim(name="no-column", x="x", y="missing", claimed=0.5, kind="upper"),
    RateClaim(name="no-rows", x="x", y="y", where={"family": "c"}, claimed=0.5, kind="upper"),
    RateClaim(name="flat", x="x", y="const", where={"family": "a"}, claimed=0.0,
              kind="upper"),
)

EXP = register(Experiment(
    name="rates-synthetic",
    description="power laws with a known slope (tests/test_rates.py)",
    params=(Param("family", "str", "a", choices=("a", "b", "c")),),
    run=_rows,
    grid={"family": ["a", "b", "c"]},
    seeds=2,
    quick={"grid": {"family": ["a"]}, "seeds": 2},
    rates=CLAIMS,
))


@pytest.fixture
def store(tmp_path):
    st = ResultStore(tmp_path / "res")
    for family in POWERS:
        cell = EXP.cells({"family": [family]})[0]
        for seed in (0, 1):
            st.write_rows(EXP.name, EXP.version, cell, seed, _rows(cell, seed))
    return st


def _hand_fit(x, y, confidence=0.95):
    lx, ly = np.log(x), np.log(y)
    fit = stats.linregress(lx, ly)
    t = stats.t.ppf(0.5 + confidence / 2, lx.size - 2)
    return fit.slope, fit.slope - t * fit.stderr, fit.slope + t * fit.stderr


def _points(family, xmin=0.0):
    x = np.concatenate([XS, XS])
    y = np.concatenate([[r["y"] for r in _rows({"family": family}, s)] for s in (0, 1)])
    keep = x >= xmin
    return x[keep], y[keep]


def _get(table, rate, group=""):
    rows = table[(table["rate"] == rate) & (table["group"] == group)]
    assert len(rows) == 1, (rate, group, table[["rate", "group"]])
    return rows.iloc[0]


def test_slopes_cis_and_verdicts_match_a_hand_fit(store):
    table = check_rates("rates-synthetic", store)
    assert set(table["verdict"]) <= set(VERDICTS)
    for family, p in POWERS.items():
        slope, lo, hi = _hand_fit(*_points(family))
        assert abs(slope - p) < 1e-12  # the +-NOISE pairs cancel
        row = _get(table, "half-upper", f"family={family}")
        assert row["slope"] == pytest.approx(slope, abs=1e-12)
        assert row["ci_low"] == pytest.approx(lo, abs=1e-12)
        assert row["ci_high"] == pytest.approx(hi, abs=1e-12)
        assert row["n"] == 14 and row["seeds"] == 2 and 0 < hi - lo < 0.1
        assert row["group_values"] == {"family": family}
    assert _get(table, "half-upper", "family=a")["verdict"] == "consistent"
    assert _get(table, "half-upper", "family=b")["verdict"] == "worse"
    assert _get(table, "one-upper", "family=a")["verdict"] == "better"
    assert _get(table, "one-match", "family=a")["verdict"] == "below"
    assert _get(table, "one-match", "family=b")["verdict"] == "consistent"
    assert _get(table, "pooled")["verdict"] == "consistent"
    # fit_decades: only x >= 64 / 10 enters the fit.
    slope, lo, hi = _hand_fit(*_points("a", xmin=6.4))
    row = _get(table, "last-decade", "family=a")
    assert row["n"] == 8 and row["ci_low"] == pytest.approx(lo) and \
        row["ci_high"] == pytest.approx(hi)
    # An exactly flat curve: slope 0 with a zero-width CI, consistent with 0.
    assert _get(table, "flat")["slope"] == 0.0 and _get(table, "flat")["verdict"] == "consistent"


def test_no_data_rows_say_why(store):
    table = check_rates(EXP, store)
    c = _get(table, "half-upper", "family=c")  # listed in `where`, never stored
    assert c["verdict"] == "no data" and "no stored rows" in c["reason"]
    assert math.isnan(c["slope"])
    few = _get(table, "last-point")
    assert few["verdict"] == "no data" and "2+ distinct x" in few["reason"]
    assert "no column(s) missing" in _get(table, "no-column")["reason"]
    assert "no stored rows match where family=c" in _get(table, "no-rows")["reason"]
    # The quick preset reads family a only: b's claims have no data, a's are fitted.
    quick = check_rates(EXP, store, quick=True)
    assert _get(quick, "half-upper", "family=b")["verdict"] == "no data"
    assert _get(quick, "half-upper", "family=a")["verdict"] == "consistent"
    assert _get(quick, "pooled")["verdict"] == "no data"


def test_nothing_stored_raises_a_lab_error(tmp_path):
    with pytest.raises(LabError, match="no stored results for rates-synthetic"):
        check_rates(EXP, ResultStore(tmp_path))


def test_cli_json_and_text(store, capsys):
    assert main(["rates", EXP.name, "--json", "--results", str(store.root)]) == 0
    blob = json.loads(capsys.readouterr().out)
    assert isinstance(blob, list) and len(blob) == len(check_rates(EXP, store))
    for rec in blob:
        assert {"rate", "claimed", "slope", "ci_low", "ci_high", "verdict", "group", "kind",
                "n", "x", "y", "reason", "source"} <= set(rec)
    nodata = [r for r in blob if r["verdict"] == "no data"]
    assert nodata and all(r["slope"] is None and r["reason"] for r in nodata)
    assert main(["rates", EXP.name, "--results", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert "half-upper" in out and "worse" in out and "no data (" in out
    # Only one family stored under an override that selects it: the rest are no data.
    assert main(["rates", EXP.name, "family=a", "--results", str(store.root)]) == 0
    assert "family=b" in capsys.readouterr().out


def test_cli_without_results_exits_2_with_one_line(tmp_path, capsys):
    for extra in ((), ("--json",)):
        assert main(["rates", EXP.name, "--results", str(tmp_path), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no stored results for rates-synthetic" in err[0]


def test_verdict_wording():
    up = RateClaim(name="u", x="x", y="y", claimed=0.5, kind="upper")
    match = RateClaim(name="m", x="x", y="y", claimed=0.5, kind="match")
    assert verdict(up, 0.1, 0.4) == "better" and verdict(match, 0.1, 0.4) == "below"
    assert verdict(up, 0.4, 0.6) == verdict(match, 0.5, 0.5) == "consistent"
    assert verdict(up, 0.6, 0.7) == verdict(match, 0.6, 0.7) == "worse"


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="lower"), "kind must be 'upper'"),
    (dict(claimed=float("nan")), "claimed must be a finite number"),
    (dict(claimed="0.5"), "claimed must be a finite number"),
    (dict(x=""), "x must be a non-empty column name"),
    (dict(y="x"), "x and y must be different"),
    (dict(by="x"), "must not contain the fitted columns"),
    (dict(by=("a", "a")), "repeated columns"),
    (dict(by=3), "by must be a column name"),
    (dict(where=["a"]), "where must be a dict"),
    (dict(where={"a": []}), "empty list"),
    (dict(fit_decades=0), "fit_decades must be a number > 0"),
    (dict(confidence=1.5), "confidence must be in"),
    (dict(name=""), "name must be a non-empty string"),
])
def test_claim_validation(kwargs, message):
    base = dict(name="r", x="x", y="y", claimed=0.5, kind="upper")
    with pytest.raises(ValueError, match=message):
        RateClaim(**{**base, **kwargs})


def test_claims_are_normalised():
    c = RateClaim(name="r", x="x", y="y", claimed=1, kind="match", by="algo",
                  where={"algo": ["u", "v"]}, fit_decades=2)
    assert c.by == ("algo",) and c.where == {"algo": ("u", "v")} and c.claimed == 1.0
    assert "per algo" in c.describe() and "last 2 decade" in c.describe()
    assert json.dumps(c.to_dict())


@pytest.mark.parametrize("rates, message", [
    ((RateClaim(name="r", x="x", y="y", claimed=0.5, kind="upper"),) * 2, "declared twice"),
    ((RateClaim(name="r", x="x", y="y", claimed=0.5, kind="upper",
                where={"family": "z"}),), "rate r: where parameter family='z'"),
    ((RateClaim(name="r", x="family", y="y", claimed=0.5, kind="upper"),), "numeric column"),
    (("not a claim",), "must be RateClaim"),
])
def test_experiment_checks_its_claims(rates, message):
    with pytest.raises(ValueError, match=message):
        Experiment(name="bad-rates", description="", run=_rows,
                   params=(Param("family", "str", "a", choices=("a", "b")),), rates=rates)


def test_every_registered_claim_is_well_formed():
    from mdplab.lab import all_experiments

    for exp in all_experiments().values():
        if not exp.run.__module__.startswith("mdplab_experiments_experiments_"):
            continue  # registered by a test
        assert exp.rates, f"{exp.name} declares no theorem rates"
        for claim in exp.rates:
            assert claim.source, f"{exp.name}: rate {claim.name} names no theorem"


def test_fit_on_mean_keeps_seeds_that_reach_zero(tmp_path):
    """An excess loss that is exactly 0 on some seeds: a point fit drops the zeros
    (keeping the unlucky seeds); the mean fit averages them in, matching a hand fit."""
    xs = np.array([10.0, 100.0, 1000.0, 10000.0])

    def run(params, seed):
        # cell p=0 always pays x^-0.5; cell p=1 pays it until x >= 1000, then 0.
        return [{"x": x, "y": x**-0.5 if (params["p"] == 0 or x < 1000) else 0.0} for x in xs]

    exp = Experiment(name="rates-zeros", description="zeros on one seed",
                     params=(Param("p", "int", 0, "which curve"),), run=run, seeds=1,
                     rates=(RateClaim(name="points", x="x", y="y", claimed=-0.5, kind="upper"),
                            RateClaim(name="mean", x="x", y="y", claimed=-0.5, kind="upper",
                                      fit_on="mean")))
    register(exp)
    from mdplab.lab.runner import sweep

    st = ResultStore(tmp_path)
    cells = exp.cells({"p": [0, 1]})
    assert sweep(exp, cells, [0], store=st, backend="inline", progress=False).ok
    table = check_rates(exp, store=st, cells=cells)
    points, mean = _get(table, "points"), _get(table, "mean")
    assert points["n"] == 6 and mean["n"] == 4
    means = np.array([x**-0.5 if x < 1000 else 0.5 * x**-0.5 for x in xs])
    want = stats.linregress(np.log(xs), np.log(means)).slope
    assert abs(mean["slope"] - want) < 1e-12 and mean["slope"] < points["slope"] - 0.05
    with pytest.raises(ValueError, match="fit_on"):
        RateClaim(name="bad", x="x", y="y", claimed=1.0, kind="upper", fit_on="median")

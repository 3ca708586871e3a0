"""`train average` (training/stages/average.py): the weighted mean of checkpoints of one
architecture, written with provenance and checked to load; other architectures or bad shares
are refused naming the files, and nothing is written."""

import pytest
import torch
from safetensors import safe_open
from test_inference_estimator import tiny_model

from depth_anything_ros.cli import main as cli
from depth_anything_ros.model import load_model, read_provenance, save_model


@pytest.fixture()
def pair(tmp_path):
    paths = []
    for seed in (1, 2):
        path = tmp_path / f"m{seed}.safetensors"
        save_model(tiny_model(variant="metric", max_depth=20.0, seed=seed), path,
                   provenance={"run": f"seed {seed}"})
        paths.append(path)
    return paths


@pytest.mark.parametrize("shares", [None, [0.25, 0.75]])
def test_average_is_the_weighted_mean_and_names_its_ingredients(pair, tmp_path, shares):
    out = tmp_path / "soup.safetensors"
    args = ["train", "average", "--weights", *map(str, pair), "--out", str(out)]
    if shares:
        args += ["--shares", *map(str, shares)]
    assert cli(args) == 0
    a, b = (load_model(p).state_dict() for p in pair)
    soup = load_model(out).state_dict()
    wa, wb = shares or (0.5, 0.5)
    for key in a:
        torch.testing.assert_close(soup[key], wa * a[key] + wb * b[key], rtol=1e-6, atol=1e-7)
    assert read_provenance(out)["stage"] == "average"
    ingredients = read_provenance(out)["averaged_from"]
    assert [i["share"] for i in ingredients] == [wa, wb]
    assert [i["provenance"]["run"] for i in ingredients] == ["seed 1", "seed 2"]
    assert [i["weights"] for i in ingredients] == [str(p) for p in pair]


def test_other_architectures_or_bad_shares_are_refused_and_nothing_is_written(
        pair, tmp_path, capsys):
    other = tmp_path / "relative.safetensors"
    save_model(tiny_model(variant="relative"), other)
    out = tmp_path / "soup.safetensors"
    cases = [
        (["--weights", str(pair[0]), str(other)], f"{other} is another architecture"),
        (["--weights", *map(str, pair), "--shares", "0.5", "0.6"], "must be ≥ 0 and sum to 1"),
        (["--weights", *map(str, pair), "--shares", "1"], "1 shares for 2 checkpoints"),
        (["--weights", *map(str, pair), "--shares", "nan", "nan"], "must be ≥ 0 and sum to 1"),
        # summing to 1 is not enough: a negative share extrapolates past the ingredients
        (["--weights", *map(str, pair), "--shares", "1.5", "-0.5"], "must be ≥ 0 and sum to 1"),
        (["--weights", str(pair[0])], "at least two checkpoints"),
    ]
    for args, message in cases:
        assert cli(["train", "average", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("depth-anything-ros train average: error: ") and message in err, err
        assert not out.exists()


def test_average_is_stored_in_the_requested_dtype(pair, tmp_path):
    """--dtype float16 stores the soup at half size as export does; it loads as float32."""
    out = tmp_path / "soup16.safetensors"
    assert cli(["train", "average", "--weights", *map(str, pair), "--out", str(out),
                "--dtype", "float16"]) == 0
    with safe_open(str(out), "pt") as f:
        names = list(f.keys())  # a safetensors handle, not a dict
        assert {f.get_tensor(name).dtype for name in names} == {torch.float16}
    assert all(v.dtype == torch.float32 for v in load_model(out).state_dict().values())


def test_info_shows_a_soup_of_a_soup_level_by_level(pair, tmp_path, capsys):
    """An average that has an average among its ingredients (a shipped soup refined by new
    runs) lists that soup's own members under it, one level deeper, with short shares."""
    inner, outer = tmp_path / "inner.safetensors", tmp_path / "outer.safetensors"
    assert cli(["train", "average", "--weights", *map(str, pair), "--out", str(inner)]) == 0
    assert cli(["train", "average", "--weights", str(inner), str(pair[1]), "--out", str(outer),
                "--shares", str(2 / 3), str(1 / 3)]) == 0
    capsys.readouterr()
    assert cli(["info", "--weights", str(outer)]) == 0
    text = capsys.readouterr().out
    lines = text[text.index("provenance:"):].splitlines()
    assert lines[1:5] == [f"  0.667 × {inner}: stage average",
                          f"    0.5 × {pair[0]}: run=seed 1",
                          f"    0.5 × {pair[1]}: run=seed 2",
                          f"  0.333 × {pair[1]}: run=seed 2"]

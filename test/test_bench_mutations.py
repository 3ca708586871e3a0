"""bench/mutations.py's table stays applicable: every snippet is found exactly once (the full
mutation run is too slow for CI; this keeps the list from rotting between runs)."""
import pytest
from bench_helpers import load_bench


@pytest.fixture(scope="module")
def mutations():
    return load_bench("mutations")


def test_every_mutation_snippet_is_found_exactly_once_and_names_existing_tests(mutations):
    assert len(mutations.MUTATIONS) >= 15
    problems = mutations.check_snippets()
    assert not problems, "update the row in bench/mutation_rows_<area>.py:\n" + "\n".join(problems)


def test_a_missing_snippet_is_reported_with_the_mutation_and_file(mutations, tmp_path):
    mutation = mutations.Mutation("example", "code.py", "x = 1", "x = 2", ("test_code.py",))
    (tmp_path / "code.py").write_text("y = 1\n")
    with pytest.raises(mutations.SnippetError, match="example.*not found in code.py"):
        mutations.apply(mutation, tmp_path)
    (tmp_path / "code.py").write_text("x = 1\n")
    assert mutations.apply(mutation, tmp_path) == "x = 1\n"
    assert (tmp_path / "code.py").read_text() == "x = 2\n"

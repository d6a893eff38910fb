"""Bounded parsing: a scenario or experiment file (and a --set value) is checked for its
size, line length and key depth before the TOML parser sees it, because the parser's time
is quadratic in a key's depth (one 30,000-part dotted key in a 60 KB file took 18.9 s and
3.6 GB). These tests check the bounds themselves (the largest legal input passes, one over
is refused with the file and the limit named) and that a refused file never reaches the
parser -- not a clock."""

from __future__ import annotations

import string

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

import credsim.tomlfile as tomlfile
from credsim import ScenarioError, load_scenario
from credsim.experiments.spec import ExperimentError
from credsim.experiments import load_experiment
from credsim.scenario import builtin_names
from credsim.scenario.load import builtin_path
from credsim.tomlfile import MAX_FILE_BYTES, MAX_KEY_DEPTH, MAX_LINE_CHARS, MAX_NESTING, toml_text_problem


def dotted(parts: int) -> str:
    return ".".join(f"k{i}" for i in range(parts))


@pytest.fixture
def no_parser(monkeypatch):
    """The parser raises if called: what is refused must be refused before parsing."""

    def refuse(text):
        raise AssertionError("tomllib.loads was called")

    monkeypatch.setattr(tomlfile.tomllib, "loads", refuse)


def test_the_issue_s_30000_part_key_is_refused_before_parsing(tmp_path, no_parser):
    path = tmp_path / "deep.toml"
    path.write_text(".".join(["a"] * 30_000) + " = 1\n", encoding="utf-8")
    assert 59_000 < path.stat().st_size < 61_000
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message and f"at most {MAX_KEY_DEPTH}" in message and "line 1" in message


@pytest.mark.parametrize(
    "make, limit",
    [
        (lambda n: f"{dotted(n)} = 1\n", MAX_KEY_DEPTH),  # a dotted key
        (lambda n: f"[{dotted(n - 1)}]\nlast = 1\n", MAX_KEY_DEPTH),  # a table header and a key in it
        (lambda n: f"[[{dotted(n - 2)}]]\nx.y = 1\n", MAX_KEY_DEPTH),  # an array of tables
        (lambda n: "a = " + "{ b = " * (n - 1) + "1" + " }" * (n - 1) + "\n", MAX_KEY_DEPTH),  # inline tables
        (lambda n: "a.b = [" + "[" * (n - 1) + "1" + "]" * n + "\n", MAX_NESTING),  # arrays in arrays
        (lambda n: "a = " + "".join("[{ b = "[:1] if i % 2 == 0 else "{ b = " for i in range(n)) + "1"
         + "".join("]" if i % 2 == 0 else " }" for i in reversed(range(n))) + "\n", MAX_NESTING),  # both
    ],
    ids=["dotted", "header", "array-of-tables", "inline-tables", "arrays", "mixed"],
)
def test_the_deepest_legal_key_passes_and_one_more_is_refused(make, limit):
    legal = make(limit)
    assert toml_text_problem(legal) is None
    tomlfile.tomllib.loads(legal)  # it is valid TOML, of exactly the limit's depth
    problem = toml_text_problem(make(limit + 1))
    assert problem and f"at most {limit}" in problem


def test_the_longest_legal_line_passes_and_one_more_is_refused(tmp_path, monkeypatch):
    line = "# " + "x" * (MAX_LINE_CHARS - 2)
    assert toml_text_problem(f"a = 1\n{line}\nb = 2\n") is None
    problem = toml_text_problem(f"a = 1\n{line}x\nb = 2\n")
    assert problem == f"line 2 is {MAX_LINE_CHARS + 1:,} characters long; a line may be at most {MAX_LINE_CHARS:,}"
    path = tmp_path / "long.toml"
    path.write_text(f"a = 1\n{line}x\n", encoding="utf-8")
    monkeypatch.setattr(tomlfile.tomllib, "loads", lambda text: pytest.fail("parsed"))
    with pytest.raises(ScenarioError, match=f"line 2 is .* at most {MAX_LINE_CHARS:,}") as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)


def test_ten_thousand_region_shares_on_one_line_fit():
    """The line limit leaves room for the largest array the schema allows, at full precision."""
    text = "region_shares = [" + ", ".join([repr(0.1 + 2**-50)] * 10_000) + "]\n"
    assert toml_text_problem(text) is None


def test_the_largest_legal_file_is_read_and_one_byte_more_is_refused(tmp_path):
    legal = tmp_path / "legal.toml"
    legal.write_bytes((b"#" * 99 + b"\n") * (MAX_FILE_BYTES // 100))
    assert legal.stat().st_size == MAX_FILE_BYTES
    with pytest.raises(ScenarioError, match="required field is missing"):  # read, parsed, then validated
        load_scenario(legal)
    legal.write_bytes(legal.read_bytes() + b"#")
    with pytest.raises(ScenarioError, match=f"at most {MAX_FILE_BYTES:,}"):
        load_scenario(legal)


def test_dots_and_brackets_inside_strings_and_comments_are_not_counted():
    deep = "." * 500 + "[" * 500 + "{" * 500
    for text in (
        f'"{deep}" = 1\n',  # a quoted key of one part
        f"'{deep}' = 1\n",
        f'a = "{deep}"\n',
        f'a = """\n{deep}\n{deep}"""\n',
        f"a = '''{deep}'''\n",
        f"# {deep}\na = 1\n",
        'a = "x\\"' + deep + '"\n',  # an escaped quote does not end the string
        f'a = """x""""\nb = "{deep}"\n',  # up to two quotes may end a multi-line string
    ):
        assert toml_text_problem(text) is None, text
        tomlfile.tomllib.loads(text)


@settings(max_examples=150, deadline=None, database=None)
@given(
    data=st.recursive(
        st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=8), st.booleans()),
        lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(st.text(string.ascii_letters + "._ \"'[]{}#=", min_size=1, max_size=6), inner, max_size=3),
        max_leaves=12,
    ).filter(lambda v: isinstance(v, dict))
)
def test_valid_toml_within_the_limits_is_never_refused(data):
    """Whatever tomli_w writes (headers, dotted and quoted keys, nested arrays and inline
    tables) of a document shallower than the limits is let through unchanged."""
    text = tomli_w.dumps(data)
    assert toml_text_problem(text) is None
    assert tomlfile.tomllib.loads(text) == data


def test_the_built_in_scenarios_are_far_below_the_limits(monkeypatch):
    """What tomlfile's docstring says of them: lines under 300 characters, keys at most 4
    parts deep, values nested at most 3 deep (a ramp of a list field), files under 16 KB."""
    monkeypatch.setattr(tomlfile, "MAX_LINE_CHARS", 299)
    monkeypatch.setattr(tomlfile, "MAX_KEY_DEPTH", 4)
    monkeypatch.setattr(tomlfile, "MAX_NESTING", 3)
    for name in builtin_names():
        text = builtin_path(name).read_text(encoding="utf-8")
        assert len(text.encode()) < 16_000 and toml_text_problem(text) is None, name
        load_scenario(name)
    monkeypatch.setattr(tomlfile, "MAX_KEY_DEPTH", 3)
    assert any(toml_text_problem(builtin_path(n).read_text(encoding="utf-8")) for n in builtin_names())


def test_an_experiment_file_is_bounded_too(tmp_path, no_parser):
    path = tmp_path / "exp.toml"
    path.write_text(f'[experiment]\nname = "x"\nbase = "city"\n\n[parameters]\n{dotted(MAX_KEY_DEPTH)} = [1, 2]\n', encoding="utf-8")
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path)
    assert str(path) in str(caught.value) and f"at most {MAX_KEY_DEPTH}" in str(caught.value)
    path.write_text("x = 1\n" + "#" * (MAX_LINE_CHARS + 1) + "\n", encoding="utf-8")
    with pytest.raises(ExperimentError, match=f"line 2 .* at most {MAX_LINE_CHARS:,}"):
        load_experiment(path)


def test_a_set_value_is_bounded_before_it_is_parsed():
    deep = "{ " + dotted(30_000) + " = 1 }"
    with pytest.raises(ScenarioError, match=f"listing.min_days: value not read: .*at most {MAX_KEY_DEPTH}"):
        load_scenario("city", [f"listing.min_days={deep}"])
    with pytest.raises(ScenarioError, match=f"at most {MAX_NESTING}"):
        load_scenario("city", ["listing.min_days=" + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)])

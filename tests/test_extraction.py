import pytest

from codelutra_nb.kinds import get_kind


def extract_code(text: str, kind: str) -> str | None:
    return get_kind(kind).extract_code(text)


def code_complete(text: str, kind: str) -> bool:
    return get_kind(kind).code_complete(text)


SQL_CASES = [
    ("SELECT MAX(age) FROM singer;\n\nThe result is: 23", "SELECT MAX(age) FROM singer"),
    ("Here you go:\n```sql\nSELECT a\nFROM t\nWHERE b = 1;\n```\nDone.", "SELECT a\nFROM t\nWHERE b = 1"),
    ("```sql\nSELECT a FROM t\n```\nor maybe SELECT b FROM t;", "SELECT a FROM t"),
    ("you can select rows like this:\nselect name from t\n\nthat is all", "select name from t"),
    (
        "Use a CTE with the table: WITH x AS (SELECT 1 AS v) SELECT v FROM x;",
        "WITH x AS (SELECT 1 AS v) SELECT v FROM x",
    ),
    ("I am sorry, I cannot answer that.", None),
    ("CREATE TABLE t (a INT);", None),
]
PY_CASES = [
    ("```python\ndef f():\n    return 1\n```\nThis works.", "def f():\n    return 1"),
    ("```\nprint('example')\n```\n```python\ndef g(): pass\n```", "def g(): pass"),
    ("def f(x):\n    return x", "def f(x):\n    return x"),
    ("```python\n\n```", None),
]


@pytest.mark.parametrize("text,expected", SQL_CASES)
def test_sql_extraction(text, expected):
    assert extract_code(text, "sql") == expected


@pytest.mark.parametrize("text,expected", PY_CASES)
def test_python_extraction(text, expected):
    assert extract_code(text, "python") == expected


@pytest.mark.parametrize("kind,text", [("sql", t) for t, _ in SQL_CASES] + [("python", t) for t, _ in PY_CASES])
def test_stopping_when_complete_never_changes_the_extracted_code(kind, text):
    """Generation may stop at the first prefix where code_complete holds: every longer prefix extracts the same."""
    for i in range(len(text) + 1):
        if code_complete(text[:i], kind):
            assert all(extract_code(text[:j], kind) == extract_code(text[:i], kind) for j in range(i, len(text) + 1))
            break


def test_complete_only_after_the_statement_ends():
    assert not code_complete("SELECT a FROM t", "sql")
    assert code_complete("SELECT a FROM t;", "sql")
    assert not code_complete("```python\ndef f():\n", "python")
    assert code_complete("```python\ndef f(): pass\n```", "python")

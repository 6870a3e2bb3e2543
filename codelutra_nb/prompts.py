"""Chat prompts for a task, and the canonical answer text a program is trained as.

The default SQL template was chosen by measurement on SmolLM2-135M: a bare
``<schema>\\n\\nQuestion: <q>`` drew mostly prose (0% correct), while asking for
"an SQLite query that answers" gave 4% correct and 34% executable at T=0.2.
"""

from __future__ import annotations

import string

from .errors import ConfigError
from .tasks.base import Task

DEFAULT_TEMPLATES: dict[str, str] = {
    "sql": "{schema}\n\nWrite an SQLite query that answers: {question}",
    "mbpp": "{question}\n\nYour code should pass these tests:\n{tests}",
    "humaneval": "Complete the following Python function and return the whole function in a ```python block.\n\n"
                 "```python\n{prompt}```",
    "ds1000": "{prompt}",
}


def template_for(task: Task, template: str | None) -> str:
    """``template``, or the default for the task's layout (SQL, MBPP, HumanEval, DS-1000)."""
    return template if template is not None else DEFAULT_TEMPLATES[getattr(task, "layout", task.kind)]


def check_template(template: str, task: Task) -> None:
    """Fail early, naming the placeholders, if ``template`` asks for a field the task does not have."""
    fields = task.prompt_fields()
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    unknown = sorted(names - set(fields))
    if unknown:
        raise ConfigError(f"prompt_template names {unknown}, which {task.kind} tasks do not have; "
                          f"available placeholders: {sorted(fields)}.")


def build_messages(task: Task, template: str | None = None, system_prompt: str | None = None) -> list[dict[str, str]]:
    """The conversation that asks the model to solve ``task`` (TRL's conversational format)."""
    text = template_for(task, template)
    check_template(text, task)
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": text.format(**task.prompt_fields())})
    return messages


def format_answer(code: str, kind: str) -> str:
    """The assistant turn a program is trained as: plain SQL ending in ``;``, Python in a fence."""
    code = code.strip()
    if kind == "sql":
        return code.rstrip(";").rstrip() + ";"
    return f"```python\n{code}\n```"

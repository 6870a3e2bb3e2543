"""Chat prompts for a task: its kind's default template (or the ``prompt_template`` parameter) filled in."""

from __future__ import annotations

import string

from .config import TaskParams
from .errors import ConfigError
from .kinds import get_kind
from .kinds.base import Task


def template_for(task: Task, template: str | None) -> str:
    """``template``, or the default of the task's kind."""
    return template if template is not None else get_kind(task.kind).default_template(task)


def check_template(template: str, task: Task) -> None:
    """Fail early, naming the placeholders, if ``template`` asks for a field the task does not have."""
    fields = task.prompt_fields()
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    unknown = sorted(names - set(fields))
    if unknown:
        raise ConfigError(
            f"prompt_template names {unknown}, which {task.kind} tasks do not have; "
            f"available placeholders: {sorted(fields)}."
        )


def messages_for(task: Task, params: TaskParams) -> list[dict[str, str]]:
    """`build_messages` with the ``prompt_template`` and ``system_prompt`` parameters."""
    return build_messages(task, params.prompt_template, params.system_prompt)


def build_messages(task: Task, template: str | None = None, system_prompt: str | None = None) -> list[dict[str, str]]:
    """The conversation that asks the model to solve ``task`` (TRL's conversational format)."""
    text = template_for(task, template)
    check_template(text, task)
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": text.format(**task.prompt_fields())})
    return messages

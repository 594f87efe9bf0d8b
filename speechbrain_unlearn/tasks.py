"""What the package knows about each task, in one place.

A :class:`Task` says which on-disk layout its ``data_folder`` must have and
how to recognise it, and which scenarios remove whole classes (a VoxCeleb
class is a speaker, so ``speaker`` removes classes there; a keyword model's
speakers are not classes). How the manifests are prepared and which
embedded corpus is synthesised are keys of the task's hparams (``prepare``,
``embedded_corpus``), so a user can point a recipe at their own.

Example
-------
>>> TASKS["VoxCeleb"].removes_classes("speaker"), TASKS["SpeechCommands"].removes_classes("speaker")
(True, False)
>>> task_named("Nope")
Traceback (most recent call last):
...
speechbrain_unlearn.errors.UnlearnError: unknown task Nope; use one of SpeechCommands, VoxCeleb
"""

import dataclasses
import os
from typing import Callable

from speechbrain_unlearn.data.speech_commands import is_speech_commands
from speechbrain_unlearn.data.voxceleb import is_voxceleb
from speechbrain_unlearn.errors import UnlearnError


@dataclasses.dataclass(frozen=True)
class Task:
    """A task's layout and the scenarios that remove whole classes."""

    name: str
    #: The layout a real ``data_folder`` must have, in words.
    layout: str
    #: ``recognise(folder)``: whether ``folder`` has that layout.
    recognise: Callable
    #: Scenarios whose forget set is whole classes.
    class_scenarios: tuple
    #: The files and folders a ``data_folder`` of this layout holds.
    required: tuple = ()

    def removes_classes(self, scenario):
        """Whether ``scenario`` forgets whole classes of this task."""
        return scenario in self.class_scenarios

    def layout_hint(self, folder):
        """Why ``folder`` is not this task's layout, and what to do instead."""
        other = [t.name for t in TASKS.values() if t.name != self.name and t.recognise(folder)]
        if other:
            return f"it is a {other[0]} folder: use recipes/{other[0]}/unlearn.py"
        missing = [name for name in self.required if not os.path.exists(os.path.join(folder, name))]
        return f"it lacks {', '.join(missing)}" if missing else "it is in no known layout"


TASKS = {
    task.name: task
    for task in (
        Task(
            "SpeechCommands",
            "Speech Commands v0.02 (validation_list.txt, testing_list.txt)",
            is_speech_commands,
            ("class",),
            ("validation_list.txt", "testing_list.txt"),
        ),
        Task(
            "VoxCeleb", "VoxCeleb1 (iden_split.txt, wav/)", is_voxceleb, ("class", "speaker"), ("iden_split.txt", "wav")
        ),
    )
}


def task_named(name):
    """The :class:`Task` called ``name`` (one line naming the known ones if there is none)."""
    if name not in TASKS:
        raise UnlearnError(f"unknown task {name}; use one of {', '.join(TASKS)}")
    return TASKS[name]

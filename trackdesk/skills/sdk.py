"""The worker SDK under its old name: a re-export of :mod:`trackdesk.worker`.

The worker runtime moved to ``trackdesk.worker`` (issue 22) so that the import worker and
the skills share it without the importer reaching into the skills. Skills written against
``trackdesk.skills.sdk`` (docs/USER_SKILLS.md) keep working: every public name is still
here and is the same object as in ``trackdesk.worker`` (so ``except SkillError``
and ``isinstance`` agree across both names). New code imports ``trackdesk.worker``.
"""

# One list of names, trackdesk.worker's own: a name added there is here too.
from trackdesk.worker import *  # noqa: F403
from trackdesk.worker import __all__  # noqa: F401

"""Everything autolab raises on purpose.

    AutolabError                 base; `exit_code` says how the CLI ends
    ├── UserError (exit 2)       bad input a person can fix; one line: what, where, how
    │   ├── ConfigError          a missing or wrong key in [tool.autolab]
    │   ├── LabError             the directory is not a usable lab (no git, no config, ...)
    │   └── LockedError          another `autolab run` holds this lab
    ├── BaselineError (exit 1)   main's own script fails; no trial can be judged
    │   └── MainError            main's prepare or evaluate command fails the same way each time
    ├── StaleError               main moved since the trial's parent: never merge it as is
    ├── RefusedError             the forge will not merge a winner for a reason of its own
    │                            code (a required check failed): it ends discarded
    └── InfraError               the forge or the runner failed, not the idea

Its place in the whole: ARCHITECTURE.md, "The edges".
"""

from __future__ import annotations


class AutolabError(Exception):
    exit_code = 1


class UserError(AutolabError):
    exit_code = 2


class ConfigError(UserError):
    pass


class LabError(UserError):
    pass


class LockedError(UserError):
    pass


class BaselineError(AutolabError):
    pass


class MainError(BaselineError):
    pass


class StaleError(AutolabError):
    pass


class RefusedError(AutolabError):
    pass


class InfraError(AutolabError):
    pass

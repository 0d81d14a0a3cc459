"""autolab: git-native autonomous ML research; every experiment is a pull request.

Its place in the whole: ARCHITECTURE.md, "The data flow".
"""

from autolab.config import Config, Lab, load
from autolab.errors import AutolabError, ConfigError, UserError
from autolab.records import LedgerRow, Manifest, Proposal, RunResult, ScoreRow, Trial, Verdict

__all__ = ["AutolabError", "Config", "ConfigError", "Lab", "LedgerRow", "Manifest", "Proposal",
           "RunResult", "ScoreRow", "Trial", "UserError", "Verdict", "load"]

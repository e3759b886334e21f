"""Shared fixtures: a scripted model, a fresh git repository, real OpenCode servers."""

from tests.support.real_opencode import git_repo, scripted_model, start_opencode

__all__ = ["git_repo", "scripted_model", "start_opencode"]

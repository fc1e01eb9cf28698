"""Placeholder until its pages land (this commit is in progress)."""

urlpatterns: list = []

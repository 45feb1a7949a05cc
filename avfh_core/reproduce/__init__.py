"""Batch reproduction: the papermill runner, sweeps, the report and the claims audit."""

"""Discrete graph diffusion: noise schedules and transitions, denoisers, sampling pipelines."""

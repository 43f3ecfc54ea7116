"""Training runs: events, the runner, jobs, the scheduler, the Ray backend, sweeps, reproductions, ensembles."""

//! Stochastic differential equations: problems, replayable Brownian paths and solvers.

//! Sensitivities of SDE solutions.

//! Replay CLI: history, state at time T, export, rebuild and verify read models (issue #5).

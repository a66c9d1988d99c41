//! Helpers for the workspace-level integration tests in tests/.

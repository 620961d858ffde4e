//! Helpers for the statement tests.

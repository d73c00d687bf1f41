//! Empty: this crate exists for its tests (tests/readme.rs).

//! Stream builders shared by the benchmarks live in benches/codecs.rs.

//! Argument normalisation: any command line (NUL-separated words) is normalised without a
//! panic, keeps its length and program name, finds a verb that is one of its words, and the
//! normalised line parses with clap or gives clap's error.
#![no_main]
use clap::Parser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut argv: Vec<String> = vec!["hull".into()];
    argv.extend(String::from_utf8_lossy(data).split('\0').map(String::from));
    let norm = hull::cli::args::normalize(argv.clone());
    assert_eq!(norm.len(), argv.len());
    assert_eq!(norm[0], "hull");
    if let Some(v) = hull::cli::args::verb(&norm) {
        assert!(norm.iter().any(|w| w == v));
    }
    let _ = hull::cli::Cli::try_parse_from(&norm);
});

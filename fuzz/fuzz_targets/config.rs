//! config.json loading and validation: any bytes either parse into a spec that validation
//! accepts or refuses, or give an error naming a JSON path; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match hull::bundle::parse_config(data) {
        Ok(spec) => {
            if let Err(e) = hull::bundle::validate(&spec) {
                assert!(!e.to_string().is_empty());
            }
        }
        Err(e) => assert!(e.to_string().starts_with("config.json: ")),
    }
});

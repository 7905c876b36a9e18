//! state.json loading: any bytes either decode into a state (whose OCI state object can then be
//! made for every status) or are refused; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = hull::container::State::parse(data) {
        for status in ["creating", "created", "running", "paused", "stopped"] {
            let v = state.oci_json(status, state.pid);
            assert_eq!(v["status"], status);
            let _ = serde_json::to_string(&v).unwrap();
        }
        let _ = state.cgroup.rel();
    }
});

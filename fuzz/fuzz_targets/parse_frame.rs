//! Fuzz target: any bytes as one frame go through parse and classify without panicking, and
//! every span classification reports lies inside the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = warden_core::parse_frame(data) {
        for msg in &env.messages {
            let c = warden_core::classify(data, msg, Some("initialize"));
            for span in [c.args, c.body].into_iter().flatten() {
                assert!(span.end <= data.len() && span.start <= span.end);
            }
        }
    }
});

//! Fuzz target: any bytes as one client frame go through parse, the strict reading and
//! classify without panicking; every span classification reports lies inside the frame; and
//! whatever the strict reading admits, serde_json reads into a tree with the same method (so
//! the policy evaluator and the redactor always see the message warden forwards).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = warden_core::parse_frame(data);
    if let Ok(env) = &parsed {
        for msg in &env.messages {
            let c = warden_core::classify(data, msg, Some("initialize"));
            for span in [c.args, c.body].into_iter().flatten() {
                assert!(span.end <= data.len() && span.start <= span.end);
            }
        }
    }
    let admitted = warden_core::strict::check(data).is_ok()
        && parsed
            .as_ref()
            .is_ok_and(|env| warden_core::strict::check_envelope(env).is_ok());
    if admitted {
        let tree: serde_json::Value =
            serde_json::from_slice(data).expect("an admitted frame is a JSON tree");
        let env = parsed.expect("an admitted frame has an envelope");
        if let (Some(m), serde_json::Value::Object(o)) = (env.first(), &tree) {
            assert_eq!(m.method.as_deref(), o.get("method").and_then(|v| v.as_str()));
            let c = warden_core::classify(data, m, None);
            if let Some(args) = c.args {
                let _tree: serde_json::Value = serde_json::from_slice(&data[args])
                    .expect("an admitted frame's arguments are a JSON tree");
            }
        }
    }
});

//! Fuzz target: any bytes as one client frame go through parse, the strict reading and
//! classify without panicking; every span classification reports lies inside the frame; and
//! whatever the strict reading admits, serde_json reads into a tree with the same method (so
//! the policy evaluator and the redactor always see the message warden forwards). The
//! one-pass `strict::read` gives the same verdict, envelope and classifications as the
//! separate passes.
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
    let old = warden_core::strict::check(data).and_then(|()| {
        let env = parsed
            .as_ref()
            .map_err(|e| warden_core::Violation::Syntax(e.to_string()))?;
        warden_core::strict::check_envelope(env)
    });
    match (warden_core::strict::read(data), &old) {
        (Err(a), Err(b)) => assert_eq!(&a, b),
        (Ok(read), Ok(())) => {
            let env = parsed.as_ref().expect("admitted");
            assert_eq!(read.envelope.kind, env.kind);
            assert_eq!(read.envelope.messages.len(), env.messages.len());
            for (i, (m, o)) in read.envelope.messages.iter().zip(&env.messages).enumerate() {
                assert_eq!((m.kind, &m.method), (o.kind, &o.method));
                let text = |r: Option<&serde_json::value::RawValue>| r.map(|r| r.get().as_ptr());
                assert_eq!(text(m.id), text(o.id));
                assert_eq!(text(m.params), text(o.params));
                assert_eq!(text(m.result), text(o.result));
                assert_eq!(text(m.error), text(o.error));
                for answered in [None, Some("initialize")] {
                    assert_eq!(
                        read.classify(i, answered),
                        Some(warden_core::classify(data, o, answered))
                    );
                }
            }
        }
        (new, old) => panic!("one pass {:?}, three passes {old:?}", new.err()),
    }
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

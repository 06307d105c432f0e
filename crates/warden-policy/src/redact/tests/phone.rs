//! The phone detector: what it finds (exact spans) and the look-alikes it leaves alone.

use super::*;
use crate::redact::detect::phone::find_phones;
use crate::redact::text::Hit;
use proptest::prelude::*;

/// The phone numbers the scanner finds in `s`, as text.
fn phones(s: &str) -> Vec<&str> {
    let mut hits: Vec<Hit> = Vec::new();
    find_phones(s.as_bytes(), 0, &mut hits);
    hits.iter().map(|h| &s[h.start..h.end]).collect()
}

#[test]
fn phone_numbers_as_people_write_them_are_found() {
    for phone in [
        // International.
        "+14155552671",
        "+1 415 555 2671",
        "+1-415-555-2671",
        "+1.415.555.2671",
        "+1 (555) 010-0199",
        "+1(555)010-0199",
        "+1 555 0100",
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "+44 7700 900123",
        "+33 1 23 45 67 89",
        "+49 30 12345678",
        "+91 98765 43210",
        "+61 2 9876 5432",
        "+81-3-1234-5678",
        "+353 1 234 5678",
        "+8613812345678",
        "+6831234",
        // National.
        "(555) 010-0199",
        "(555)010-0199",
        "(555) 010 0199",
        "1 (555) 010-0199",
        "555-010-0199",
        "555.010.0199",
        "555 010 0199",
        "1-800-555-0199",
        "020 7946 0958",
        "(020) 7946 0958",
        "(02) 9876 5432",
        "(0161) 496 0000",
        "(01632) 960123",
        "01632 960123",
        "0161 496 0000",
        "030 12345678",
        "030-1234-5678",
        "03-1234-5678",
        "090-1234-5678",
        "06 12 34 56 78",
        "01.23.45.67.89",
        "0412 345 678",
    ] {
        assert_eq!(phones(phone), [phone], "{phone}");
        for (before, after) in [
            ("call ", "."),
            ("Tel: ", ", or"),
            ("\"phone\":\"", "\"}"),
            ("(", ")"),
            ("tel=", "&x=1"),
            ("Ann,", ",London"),
            ("téléphone ", " !"),
            ("\n", "\n"),
        ] {
            let text = format!("{before}{phone}{after}");
            assert_eq!(phones(&text), [phone], "{text}");
        }
    }
}

#[test]
fn several_phones_and_neighbours_in_one_text() {
    assert_eq!(
        phones("call (555) 010-0199 or 555-010-0199 2026-12-03 at 12:30:00"),
        ["(555) 010-0199", "555-010-0199"]
    );
    assert_eq!(
        phones("ref 12 555-010-0199 then 0207 946 0958 12:30"),
        ["555-010-0199", "0207 946 0958"]
    );
    assert_eq!(
        phones(
            r#"[{"name":"Ann","phone":"+44 20 7946 0958"},{"name":"Bo","phone":"(555) 010-0199"}]"#
        ),
        ["+44 20 7946 0958", "(555) 010-0199"]
    );
    assert_eq!(
        phones("2026-12-03 12:30 call 555-010-0199"),
        ["555-010-0199"]
    );
}

#[test]
fn look_alikes_are_not_phones() {
    for clean in [
        // Dates and times.
        "2026-12-03",
        "2026-12-03 12:30:00",
        "2026-12-03T12:30:00Z",
        "2026-12-03 12:30:00.123456",
        "03.12.2026",
        "03/12/2026 12:30",
        "12-03-2026 10 30",
        "12:30:00",
        "Mon, 03 Dec 2026 12:30:00 GMT",
        "+2026-12-03",
        "+05:30",
        // Addresses, versions, ids.
        "192.168.100.200",
        "10.0.0.1:8080",
        "127.0.0.1 255.255.255.0",
        "1.2.3",
        "10.15.7",
        "v1.2.3-rc.1",
        "123e4567-e89b-12d3-a456-426614174000",
        "550e8400-e29b-41d4-a716-446655440000",
        "ORD-2024-000123456789",
        "id 1718000000",
        "1718000000123",
        "0x1234 5678",
        "deadbeef 12345678",
        "978-3-16-148410-0",
        "0-306-40615-2",
        "123-45-6789",
        "12-34-56",
        // Numbers and amounts.
        "1234567890",
        "12345678901234",
        "3.14159",
        "0.30000000000000004",
        "37.774929483212345,-122.419415",
        "$1,234,567.89",
        "1 234 567",
        "12 345 678 901",
        "1 234,56 €",
        "€1 234 567 890",
        "+100.50",
        "+1234567.89",
        "+1,234,567",
        "+12.5 34.2",
        "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
        "10 11 12 13 14",
        "01 02 03 04",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "DE88 3704 0044 0532 0130 00",
        "123-456-7890",
        "000-000-0000",
        // Glued to words or numbers.
        "x555-010-0199",
        "555-010-0199x12",
        "555-010-01999",
        "1555-010-0199",
        "a+14155552671",
        "1+14155552671",
        "/555-010-0199",
        "#555-010-0199",
        "555-010-0199.5",
        "555-010-0199-2",
        "12:555-010-0199",
        "1,555-010-0199",
        "+15551234567@example.com",
        "f(555) 010-0199",
        "revenue (2019) 2020-2021",
        "(1234) 567 8901",
        // Too short or too long.
        "+123456",
        "+1234567890123456",
        "555-0199",
        "020 794",
        "(555) 0199",
        "+0 20 7946 0958",
        "+4420 7946 0958",
        "+1 2 3 4 5 6 7",
        "+1 234 5",
    ] {
        assert_eq!(phones(clean), Vec::<&str>::new(), "{clean}");
    }
}

#[test]
fn the_default_redactor_masks_phones_in_text() {
    let r = Redactor::default();
    let mut v = json!({
        "content": [{"type": "text", "text": "Call (555) 010-0199 or +44 20 7946 0958 before 2026-12-03 12:30."}],
        "rows": r#"[{"name":"Ann","phone":"+44 20 7946 0958"}]"#,
        "phone": "+1 415 555 2671",
        "note": "build 1.2.3 on 10.0.0.1 at 12:30:00",
    });
    let reps = r.redact(&mut v);
    assert_eq!(
        text_at(&v, "/content/0/text"),
        "Call [REDACTED:phone] or [REDACTED:phone] before 2026-12-03 12:30."
    );
    assert_eq!(
        text_at(&v, "/rows"),
        r#"[{"name":"Ann","phone":"[REDACTED:phone]"}]"#
    );
    assert_eq!(text_at(&v, "/phone"), "[REDACTED:phone]");
    assert_eq!(text_at(&v, "/note"), "build 1.2.3 on 10.0.0.1 at 12:30:00");
    assert_eq!(count(&reps, "/content/0/text", "phone"), 2);
    assert_eq!(reps.len(), 3, "{reps:?}");
    // Idempotent, and the fast path sees it.
    assert!(r.redact(&mut v).is_empty());
    assert!(r.may_redact(br#"{"t":"call 555-010-0199"}"#));
    assert!(!r.may_redact(br#"{"t":"at 2026-12-03 12:30:00 from 10.0.0.1"}"#));
    // `disabled: [phone]` turns it off.
    let off = Redactor::new(&RedactConfig {
        disabled: vec!["phone".into()],
        ..RedactConfig::default()
    })
    .unwrap();
    assert!(off.scan(&json!("call 555-010-0199")).is_empty());
}

#[test]
fn wire_rules_mask_phone_keys_and_phone_values() {
    let cfg = RedactConfig {
        scan_response: true,
        mask_fields: vec!["email".into(), "phone".into(), "ssn".into()],
        ..RedactConfig::default()
    };
    let wire = cfg.wire().unwrap();
    assert_eq!(wire.detectors, ["email", "phone"]);
    assert_eq!(wire.keys, ["email", "phone", "ssn"]);
    let r = Redactor::new(&wire).unwrap();
    let mut v = json!({
        "content": [{"type": "text", "text": r#"[{"name":"Ann","tel":"+44 20 7946 0958","mail":"ann@example.com"}]"#}],
        "structuredContent": {"name": "Jane", "phone": "ext. 12", "mobilePhone": 5550100, "ssn": "x", "token": "kept"},
        "note": "call (555) 010-0199",
    });
    r.redact(&mut v);
    assert_eq!(
        text_at(&v, "/content/0/text"),
        r#"[{"name":"Ann","tel":"[REDACTED:phone]","mail":"[REDACTED:email]"}]"#
    );
    assert_eq!(
        v["structuredContent"],
        json!({"name": "Jane", "phone": KEY_MARKER, "mobilePhone": KEY_MARKER, "ssn": KEY_MARKER, "token": "kept"})
    );
    assert_eq!(text_at(&v, "/note"), "call [REDACTED:phone]");
    // Without `scan_response`, or with nothing to mask, there are no wire rules.
    assert!(
        RedactConfig {
            scan_response: false,
            ..cfg.clone()
        }
        .wire()
        .is_none()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any text: no panic, hits inside the text on character boundaries, in order, disjoint,
    /// each with 7–15 digits.
    #[test]
    fn phone_scanner_is_total_on_any_text(
        s in prop_oneof![
            any::<String>(),
            "[0-9 ()+.:,/x-]{0,60}",
            "[0-9 ()+-]{0,40}[a-zé\"]{0,3}[0-9 ()+.-]{0,40}",
        ]
    ) {
        let mut hits: Vec<Hit> = Vec::new();
        find_phones(s.as_bytes(), 0, &mut hits);
        let mut last = 0;
        for h in &hits {
            prop_assert!(last <= h.start && h.start < h.end && h.end <= s.len());
            prop_assert!(s.is_char_boundary(h.start) && s.is_char_boundary(h.end));
            let digits = s[h.start..h.end].bytes().filter(u8::is_ascii_digit).count();
            prop_assert!((7..=15).contains(&digits), "{}", &s[h.start..h.end]);
            last = h.end;
        }
    }
}

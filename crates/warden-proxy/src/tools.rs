//! Tool classification: read, write or sensitive, from configuration lists and from the
//! annotations a server declares in its `tools/list` results (readOnlyHint, destructiveHint).

use std::collections::HashMap;

use serde::Deserialize;

/// How a tool is classed, and on what grounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolClass {
    /// `read`, `write` or `sensitive`.
    pub class: &'static str,
    /// `config`, `annotations` or `default` (MCP's defaults: not read-only, destructive).
    pub source: &'static str,
}

/// Configured tool lists and the annotations seen from the server.
#[derive(Debug, Default, Clone)]
pub struct ToolClassifier {
    sensitive: Vec<String>,
    write: Vec<String>,
    /// Tool name → (readOnlyHint, destructiveHint) as the server declared them.
    seen: HashMap<String, (Option<bool>, Option<bool>)>,
}

#[derive(Deserialize)]
struct ListResult {
    #[serde(default)]
    tools: Vec<ToolEntry>,
}

#[derive(Deserialize)]
struct ToolEntry {
    name: String,
    #[serde(default)]
    annotations: Option<Annotations>,
}

#[derive(Deserialize)]
struct Annotations {
    #[serde(default, rename = "readOnlyHint")]
    read_only: Option<bool>,
    #[serde(default, rename = "destructiveHint")]
    destructive: Option<bool>,
}

impl ToolClassifier {
    pub fn new(sensitive: Vec<String>, write: Vec<String>) -> ToolClassifier {
        ToolClassifier {
            sensitive,
            write,
            seen: HashMap::new(),
        }
    }

    /// Learns the annotations in one `tools/list` result (a page of it; pages add up).
    pub fn learn(&mut self, result: &[u8]) {
        if let Ok(list) = serde_json::from_slice::<ListResult>(result) {
            for t in list.tools {
                let hints = t
                    .annotations
                    .map_or((None, None), |a| (a.read_only, a.destructive));
                self.seen.insert(t.name, hints);
            }
        }
    }

    /// The `destructiveHint` the server declared for a tool, if it did.
    pub fn destructive(&self, tool: &str) -> Option<bool> {
        self.seen.get(tool).and_then(|(_, d)| *d)
    }

    /// The class of a tool: configuration first, then the server's annotations, then MCP's
    /// defaults (a tool not declared read-only may write).
    pub fn classify(&self, tool: &str) -> ToolClass {
        let listed = |l: &[String]| l.iter().any(|t| t == tool);
        if listed(&self.sensitive) {
            return ToolClass {
                class: "sensitive",
                source: "config",
            };
        }
        if listed(&self.write) {
            return ToolClass {
                class: "write",
                source: "config",
            };
        }
        match self.seen.get(tool) {
            Some((Some(true), _)) => ToolClass {
                class: "read",
                source: "annotations",
            },
            Some((Some(false), _) | (None, Some(_))) => ToolClass {
                class: "write",
                source: "annotations",
            },
            _ => ToolClass {
                class: "write",
                source: "default",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_then_annotations_then_defaults() {
        let mut c = ToolClassifier::new(vec!["get_pay_info".into()], vec!["export".into()]);
        c.learn(br#"{"tools":[{"name":"list","annotations":{"readOnlyHint":true}},{"name":"get_pay_info","annotations":{"readOnlyHint":true}},{"name":"submit","annotations":{"readOnlyHint":false}},{"name":"wipe","annotations":{"destructiveHint":true}},{"name":"plain"}]}"#);
        assert_eq!(
            c.classify("list"),
            ToolClass {
                class: "read",
                source: "annotations"
            }
        );
        assert_eq!(
            c.classify("get_pay_info"),
            ToolClass {
                class: "sensitive",
                source: "config"
            }
        );
        assert_eq!(
            c.classify("export"),
            ToolClass {
                class: "write",
                source: "config"
            }
        );
        assert_eq!(c.classify("submit").class, "write");
        assert_eq!(c.classify("wipe").class, "write");
        assert_eq!(
            c.classify("plain"),
            ToolClass {
                class: "write",
                source: "default"
            }
        );
        assert_eq!(c.classify("never-listed").source, "default");
        c.learn(b"not json");
        assert_eq!(
            c.classify("list").class,
            "read",
            "a bad page changes nothing"
        );
    }
}

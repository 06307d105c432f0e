//! Witnessing in metrics, read from the checkpoint submitter when scraped:
//! `warden_witness_cosignatures_total` (checkpoints a witness cosigned, the cosignature kept),
//! `warden_witness_failures_total` (submissions or anchor writes that failed, retried),
//! `warden_anchor_writes_total`, `warden_witness_checkpoints_dropped_total` (hand-overs
//! dropped on a full queue; the next checkpoint supersedes them).

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

/// The submitter's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WitnessCounts {
    pub cosigned: u64,
    pub failures: u64,
    pub anchored: u64,
    pub dropped: u64,
}

/// Reads the counters.
pub type WitnessSource = Arc<dyn Fn() -> WitnessCounts + Send + Sync>;

/// Where the witness counters are read from, set when a submitter runs.
#[derive(Default)]
pub struct WitnessGauge(Mutex<Option<WitnessSource>>);

impl std::fmt::Debug for WitnessGauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WitnessGauge")
    }
}

impl WitnessGauge {
    pub fn set(&self, source: WitnessSource) {
        *self.0.lock() = Some(source);
    }
}

#[derive(Debug)]
pub(crate) struct WitnessCollector(pub(crate) Arc<WitnessGauge>);

impl Collector for WitnessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let source = self.0.0.lock().clone();
        let Some(c) = source.map(|s| s()) else {
            return Ok(());
        };
        let counters = [
            (
                "warden_witness_cosignatures",
                "Checkpoints a witness cosigned (the verified cosignature kept in the store)",
                c.cosigned,
            ),
            (
                "warden_witness_failures",
                "Witness submissions and anchor writes that failed (retried with the newest checkpoint)",
                c.failures,
            ),
            (
                "warden_anchor_writes",
                "Checkpoints written to the anchor outside the store",
                c.anchored,
            ),
            (
                "warden_witness_checkpoints_dropped",
                "Checkpoints not handed to the submitter (its queue was full; the next supersedes them)",
                c.dropped,
            ),
        ];
        for (name, help, v) in counters {
            let m = ConstCounter::new(v);
            m.encode(encoder.encode_descriptor(name, help, None, m.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_appear_once_a_submitter_is_set() {
        let m = crate::metrics::Metrics::new(None);
        assert!(!m.encode().contains("warden_witness"));
        m.witness.set(Arc::new(|| WitnessCounts {
            cosigned: 3,
            failures: 1,
            anchored: 4,
            dropped: 0,
        }));
        let text = m.encode();
        for line in [
            "warden_witness_cosignatures_total 3",
            "warden_witness_failures_total 1",
            "warden_anchor_writes_total 4",
            "warden_witness_checkpoints_dropped_total 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}

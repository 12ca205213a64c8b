//! What a campaign found: violations of the guarantees, the running tally, and the summary line
//! (text, and JSON with `--json`).
//!
//! Owns the names of the figures (`lost`, `partial`, `holes`, `failed_opens`, ...), which are the
//! same words in the text line, the JSON line and docs/testing.md. It leaves deciding what is a
//! violation to [`verify`](super::verify) and the campaigns.
//!
//! Invariant: [`Tally::clean`] is true iff every violation counter is zero.

use std::collections::BTreeMap;
use std::fmt;

use super::args::Mode;

/// Which guarantee a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// G1: an acknowledged (kill) or acknowledged-durable (power loss) batch is missing.
    Lost,
    /// G3: a batch is partly applied.
    Partial,
    /// G2: the present batches are not a prefix of the commit order.
    Hole,
    /// A batch that was never committed, or a value nobody wrote, is present.
    Phantom,
    /// G4: the database did not reopen.
    FailedOpen,
    /// `Db::check()` failed, or reading the database returned an error.
    FailedCheck,
    /// The workload itself failed (a write returned an error, a child died on its own).
    Workload,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Lost => "lost acknowledged batch (G1)",
            Kind::Partial => "partial batch (G3)",
            Kind::Hole => "hole in the commit order (G2)",
            Kind::Phantom => "phantom data",
            Kind::FailedOpen => "failed open (G4)",
            Kind::FailedCheck => "failed check",
            Kind::Workload => "workload failure",
        })
    }
}

/// One broken guarantee: what, how many batches, and the details a human needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: Kind,
    /// Batches affected (1 for failures that are not about batches).
    pub batches: u64,
    pub detail: String,
}

impl Violation {
    pub fn new(kind: Kind, batches: u64, detail: impl Into<String>) -> Violation {
        Violation { kind, batches, detail: detail.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// Running figures of a campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Cycles completed (crash, reopen, verify).
    pub cycles: u64,
    /// Batches acknowledged to the workload.
    pub acked: u64,
    /// Batches that had to survive their crash and were found intact.
    pub verified: u64,
    /// Batches present after the last cycle.
    pub present: u64,
    pub lost: u64,
    pub partial: u64,
    pub holes: u64,
    pub phantoms: u64,
    pub failed_opens: u64,
    pub failed_checks: u64,
    pub workload_errors: u64,
    /// Mode-specific counters (acknowledgement kinds, crash modes, crashes during open).
    pub counters: BTreeMap<&'static str, u64>,
    /// Whitebox: how often the child froze at each kill point (`after-sync-wal`, ...).
    pub kill_points: BTreeMap<String, u64>,
}

impl Tally {
    /// Counts `v` under its kind.
    pub fn record(&mut self, v: &Violation) {
        let counter = match v.kind {
            Kind::Lost => &mut self.lost,
            Kind::Partial => &mut self.partial,
            Kind::Hole => &mut self.holes,
            Kind::Phantom => &mut self.phantoms,
            Kind::FailedOpen => &mut self.failed_opens,
            Kind::FailedCheck => &mut self.failed_checks,
            Kind::Workload => &mut self.workload_errors,
        };
        *counter += v.batches.max(1);
    }

    /// Adds `n` to the mode-specific counter `name`.
    pub fn count(&mut self, name: &'static str, n: u64) {
        *self.counters.entry(name).or_default() += n;
    }

    /// True iff no violation was recorded.
    pub fn clean(&self) -> bool {
        self.violation_figures().iter().all(|&(_, n)| n == 0)
    }

    fn violation_figures(&self) -> [(&'static str, u64); 7] {
        [
            ("lost", self.lost),
            ("partial", self.partial),
            ("holes", self.holes),
            ("phantoms", self.phantoms),
            ("failed_opens", self.failed_opens),
            ("failed_checks", self.failed_checks),
            ("workload_errors", self.workload_errors),
        ]
    }

    /// Every figure in print order.
    fn figures(&self) -> Vec<(&'static str, u64)> {
        let mut all = vec![
            ("cycles", self.cycles),
            ("acked", self.acked),
            ("verified", self.verified),
            ("present", self.present),
        ];
        all.extend(self.violation_figures());
        all.extend(self.counters.iter().map(|(&k, &v)| (k, v)));
        if !self.kill_points.is_empty() {
            all.push(("kill_points_distinct", self.kill_points.len() as u64));
        }
        all
    }
}

/// The end-of-campaign report.
#[derive(Debug, Clone)]
pub struct Summary {
    pub mode: Mode,
    pub seed: u64,
    pub tally: Tally,
    pub elapsed_ms: u64,
}

impl Summary {
    pub fn new(mode: Mode, seed: u64) -> Summary {
        Summary { mode, seed, tally: Tally::default(), elapsed_ms: 0 }
    }

    /// `cairn-stress: mode=kill seed=7 cycles=300 acked=... lost=0 ... elapsed_ms=...`
    pub fn line(&self) -> String {
        let mut line = format!("cairn-stress: mode={} seed={}", self.mode, self.seed);
        for (name, n) in self.tally.figures() {
            line.push_str(&format!(" {name}={n}"));
        }
        line.push_str(&format!(" elapsed_ms={} result={}", self.elapsed_ms, self.result()));
        if !self.tally.kill_points.is_empty() {
            let points: Vec<String> = self.tally.kill_points.iter().map(|(p, n)| format!("{p}={n}")).collect();
            line = format!("cairn-stress: kill points hit: {}\n{line}", points.join(" "));
        }
        line
    }

    /// The same figures as one JSON object (names are plain identifiers; no escaping needed).
    pub fn json(&self) -> String {
        let mut fields = vec![format!("\"mode\":\"{}\"", self.mode), format!("\"seed\":{}", self.seed)];
        fields.extend(self.tally.figures().into_iter().map(|(name, n)| format!("\"{name}\":{n}")));
        if !self.tally.kill_points.is_empty() {
            let points: Vec<String> = self.tally.kill_points.iter().map(|(p, n)| format!("\"{p}\":{n}")).collect();
            fields.push(format!("\"kill_points\":{{{}}}", points.join(",")));
        }
        fields.push(format!("\"elapsed_ms\":{}", self.elapsed_ms));
        fields.push(format!("\"result\":\"{}\"", self.result()));
        format!("{{{}}}", fields.join(","))
    }

    fn result(&self) -> &'static str {
        if self.tally.clean() { "pass" } else { "FAIL" }
    }
}

/// Why one cycle stopped: a broken guarantee, or the harness failing at its own work.
#[derive(Debug)]
pub enum CycleError {
    Violation(Violation),
    Harness(String),
}

impl From<Violation> for CycleError {
    fn from(v: Violation) -> Self {
        CycleError::Violation(v)
    }
}

/// Why a campaign stopped early.
#[derive(Debug)]
pub enum Failure {
    /// A guarantee was violated in `cycle`; `summary` holds the figures up to it.
    Violation { summary: Box<Summary>, cycle: u64, violation: Violation },
    /// The harness could not do its own work (spawn a child, create a directory).
    Harness(String),
}

impl Failure {
    /// Records `violation` in `summary` and wraps both.
    pub fn violation(mut summary: Summary, cycle: u64, violation: Violation) -> Failure {
        summary.tally.record(&violation);
        Failure::Violation { summary: Box::new(summary), cycle, violation }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_json_carry_the_same_figures() {
        let mut s = Summary::new(Mode::PowerLoss, 9);
        s.tally.cycles = 3;
        s.tally.count("torn_garbage", 2);
        assert!(s.line().contains("mode=powerloss seed=9 cycles=3"), "{}", s.line());
        assert!(s.line().contains("lost=0 partial=0 holes=0"), "{}", s.line());
        assert!(s.line().ends_with("result=pass"), "{}", s.line());
        let json = s.json();
        assert!(json.starts_with("{\"mode\":\"powerloss\",\"seed\":9,\"cycles\":3,"), "{json}");
        assert!(json.contains("\"failed_opens\":0") && json.contains("\"torn_garbage\":2"), "{json}");
    }

    #[test]
    fn any_violation_makes_the_tally_unclean() {
        for kind in [Kind::Lost, Kind::Partial, Kind::Hole, Kind::Phantom, Kind::FailedOpen, Kind::FailedCheck] {
            let mut t = Tally::default();
            assert!(t.clean());
            t.record(&Violation::new(kind, 0, "x"));
            assert!(!t.clean(), "{kind:?} left the tally clean");
        }
        let mut s = Summary::new(Mode::Kill, 1);
        s.tally.record(&Violation::new(Kind::Lost, 5, "x"));
        assert_eq!(s.tally.lost, 5);
        assert!(s.line().contains("lost=5") && s.line().ends_with("result=FAIL"));
    }
}

//! The CI short mode of `cairn-stress` (docs/testing.md#cairn-stress): both campaigns, a few
//! hundred crash cycles each, must verify every cycle with nothing lost, partial, out of order or
//! unopenable. Soak runs use the same binary with ≥ 10,000 cycles.
//!
//! `CAIRN_STRESS_CYCLES=N` changes the cycle count of both campaigns (default 300);
//! `CAIRN_SEED=S` the seed (default fixed, so CI replays the same option and crash draws).

use std::process::{Command, Output};

use cairn_testkit::seed_from_env;

const DEFAULT_CYCLES: u64 = 300;
const DEFAULT_SEED: u64 = 20_240_601;

fn cycles() -> u64 {
    match std::env::var("CAIRN_STRESS_CYCLES") {
        Ok(text) => text.parse().unwrap_or_else(|_| panic!("CAIRN_STRESS_CYCLES={text:?} is not a number")),
        Err(_) => DEFAULT_CYCLES,
    }
}

fn stress(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn-stress")).args(args).output().expect("run cairn-stress")
}

/// The value of `"name":<number>` in a flat JSON object.
fn json_number(json: &str, name: &str) -> u64 {
    let at = json.find(&format!("\"{name}\":")).unwrap_or_else(|| panic!("{name} missing from {json}"));
    let digits: String = json[at + name.len() + 3..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("{name} is not a number in {json}"))
}

/// Runs a campaign and checks its JSON summary; returns the summary for mode-specific checks.
fn run_campaign(mode: &str) -> String {
    let (cycles, seed) = (cycles(), seed_from_env("CAIRN_SEED", DEFAULT_SEED));
    let out = stress(&[&format!("--mode={mode}"), &format!("--cycles={cycles}"), &format!("--seed={seed}"), "--json"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "cairn-stress --mode={mode} failed ({}):\n{stdout}\n{stderr}", out.status);
    let json = stdout.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON line in:\n{stdout}"));
    eprintln!("{json}");
    assert!(json.contains(&format!("\"mode\":\"{mode}\"")) && json.contains("\"result\":\"pass\""), "{json}");
    assert_eq!(json_number(json, "seed"), seed, "{json}");
    assert_eq!(json_number(json, "cycles"), cycles, "every cycle must complete: {json}");
    for violation in ["lost", "partial", "holes", "phantoms", "failed_opens", "failed_checks", "workload_errors"] {
        assert_eq!(json_number(json, violation), 0, "{violation}: {json}");
    }
    assert!(json_number(json, "acked") > cycles, "the workload barely ran: {json}");
    assert!(json_number(json, "verified") > 0 && json_number(json, "present") > 0, "{json}");
    let line = stdout.lines().find(|l| l.starts_with("cairn-stress: mode=")).expect("summary line");
    assert!(line.contains(" lost=0 partial=0 holes=0 ") && line.ends_with("result=pass"), "{line}");
    json.to_string()
}

#[test]
fn kill_campaign_verifies_every_cycle() {
    let json = run_campaign("kill");
    assert!(json_number(&json, "buffered_acks") > 0, "buffered writes must be exercised: {json}");
    assert_eq!(json_number(&json, "verified"), json_number(&json, "acked"), "a kill keeps every ack: {json}");
}

#[test]
fn powerloss_campaign_verifies_every_cycle() {
    let json = run_campaign("powerloss");
    for mode in ["crashes_drop_unsynced", "crashes_keep_unsynced_prefix", "crashes_torn_garbage"] {
        assert!(json_number(&json, mode) > 0, "{mode} never drawn: {json}");
    }
    assert!(json_number(&json, "verified") <= json_number(&json, "acked"), "{json}");
}

/// The whitebox campaign (built with `--features whitebox`; .ci/run runs it): every cycle freezes
/// the child at a numbered I/O boundary and kills it there.
#[cfg(feature = "whitebox")]
#[test]
fn whitebox_campaign_verifies_every_cycle() {
    let json = run_campaign("whitebox");
    assert_eq!(json_number(&json, "verified"), json_number(&json, "acked"), "a kill keeps every ack: {json}");
    // Most cycles must stop at their boundary, and the boundaries must be many different ones
    // (a fixed seed: these only fail if the kill points stop being reached).
    let timeouts = json.find("\"whitebox_timeouts\":").map_or(0, |_| json_number(&json, "whitebox_timeouts"));
    assert!(timeouts * 4 < cycles(), "too few cycles reached their boundary: {json}");
    assert!(json_number(&json, "kill_points_distinct") >= 20.min(cycles()), "{json}");
    for point in ["after-append-wal", "before-sync-wal", "before-rename-current", "after-create-sst"] {
        assert!(json.contains(&format!("\"{point}\":")), "kill point {point} never hit: {json}");
    }
}

#[cfg(not(feature = "whitebox"))]
#[test]
fn whitebox_mode_needs_its_feature() {
    let out = stress(&["--mode=whitebox", "--cycles=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features whitebox"));
}

#[test]
fn usage_errors_exit_2_and_say_why() {
    for (args, why) in [
        (&["--cycles=3"][..], "--mode is required"),
        (&["--mode=reboot"], "--mode must be kill, whitebox or powerloss"),
        (&["--mode=kill", "--cycles=lots"], "is not a number"),
        (&["--mode=kill", "--frobnicate"], "unknown flag --frobnicate"),
    ] {
        let out = stress(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
}

#[test]
fn kill_mode_refuses_a_directory_that_is_not_empty() {
    let dir = std::env::temp_dir().join(format!("cairn-stress-busy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("precious.txt"), b"not a database").expect("write");
    let out = stress(&["--mode=kill", "--cycles=1", "--seed=1", "--dir", dir.to_str().expect("utf-8 temp dir")]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be empty or absent"));
    assert_eq!(std::fs::read(dir.join("precious.txt")).expect("still there"), b"not a database");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

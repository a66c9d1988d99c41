//! The fleet benchmark of the rollout guard (bench/README.md): N seeded runs
//! of a bad build (5% of updates fail against the baseline's 0.5%) and N of
//! a good one (0.5%), in lockstep on one `liveship serve` with a simulated
//! clock. Prints a summary and writes bench/fleet-results.json.
//!
//! usage: fleet [--runs N] [--quick] [--out PATH]
//! (`LIVESHIP_BIN` picks the server binary; build it with --release.)

use liveship_tests::fleet::{self, Clock, Outcome, Scenario, Target};
use liveship_tests::world::World;
use liveship_tests::Server;
use serde_json::json;

const T0: i64 = 1_780_272_000;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn report(kind: &str, out: &[Outcome]) -> serde_json::Value {
    let s = fleet::summarize(out, 0.02);
    println!(
        "{kind}: {} runs; halted {} (before 2% of the fleet: {}); completed {}; most received {:.2}%; \
         first failure to halt: median {:.0} min, max {:.0} min; hours to complete: median {:.1}, max {:.1}",
        s.runs, s.halted, s.halted_within, s.completed, s.max_received_share * 100.0,
        s.minutes_to_halt.0, s.minutes_to_halt.1, s.hours_to_complete.0, s.hours_to_complete.1
    );
    json!({
        "runs": s.runs, "halted": s.halted, "halted_before_2_percent": s.halted_within,
        "completed": s.completed, "max_received_percent": s.max_received_share * 100.0,
        "minutes_first_failure_to_halt": {"median": s.minutes_to_halt.0, "max": s.minutes_to_halt.1},
        "hours_to_complete": {"median": s.hours_to_complete.0, "max": s.hours_to_complete.1},
        "outcomes": out.iter().map(|o| json!({
            "seed": o.seed, "received": o.received, "halted_at": o.halted_at,
            "completed_at": o.completed_at, "first_failure_at": o.first_failure_at,
            "final_percent": o.final_percent, "halt_reason": o.halt_reason,
        })).collect::<Vec<_>>(),
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs: u64 = arg("--runs").map_or(if quick { 2 } else { 100 }, |r| {
        r.parse().expect("--runs N")
    });
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::new(dir.path(), T0);
    let clock_path = clock.path().to_string_lossy().into_owned();
    let server = Server::start_with_env(&[("LIVESHIP_CLOCK_FILE", clock_path.as_str())]);
    let w = World::with_server(server);
    let tokens = w.app("fleet.app");
    let mut ids = Vec::new();
    for (i, body) in [b"baseline".as_slice(), b"new build"].iter().enumerate() {
        let d = w.build_dir(&format!("b{i}"), &[("index.html", body)]);
        ids.push(
            w.upload(&tokens.ci, "fleet.app", &d, &format!("1.0.{i}"), &[])["build_id"]
                .as_u64()
                .unwrap(),
        );
    }
    let target = Target {
        url: w.server.url.clone(),
        token: tokens.ci,
        app: "fleet.app".into(),
        baseline: ids[0],
        new: ids[1],
    };
    let mut scenarios: Vec<Scenario> = (1..=runs).map(|s| Scenario::standard(s, 0.05)).collect();
    scenarios.extend((1..=runs).map(|s| Scenario::standard(1000 + s, 0.005)));
    let started = std::time::Instant::now();
    let out = fleet::run(&target, &clock, T0, &scenarios, 64).await;
    let wall = started.elapsed().as_secs_f64();
    let requests: u64 = out.iter().map(|o| o.requests).sum();
    let (bad, good) = out.split_at(runs as usize);
    println!(
        "{} scenarios of {} devices, {requests} requests in {wall:.0} s ({:.0}/s)",
        out.len(),
        scenarios[0].fleet,
        requests as f64 / wall
    );
    let doc = json!({
        "scenario": "25,000 devices opening the app every 2 h on average; 10% not yet on the baseline; plan 1,5,25,100 with 2 h steps; default guard",
        "bad_build_5_percent": report("bad build (5% vs 0.5%)", bad),
        "good_build_0_5_percent": report("good build (0.5% vs 0.5%)", good),
        "requests": requests, "wall_seconds": wall,
    });
    if let Some(path) = arg("--out") {
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).expect("write results");
        println!("wrote {path}");
    }
}

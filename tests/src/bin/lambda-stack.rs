//! Runs the three Lambda function binaries behind the local API Gateway of
//! `liveship_tests::lambda`, on moto at `LIVESHIP_TEST_MOTO_URL`, until
//! stdin closes, so the Node device tests can run against them
//! (clients/capacitor/test/server.mjs with `LIVESHIP_TEST_STACK=lambda`).
//! Prints `liveship listening on URL` like `liveship serve`.

use std::io::{Read, Write};

fn main() {
    let moto = liveship_tests::moto_url();
    let admin = std::env::var("LIVESHIP_ADMIN_TOKEN").expect("LIVESHIP_ADMIN_TOKEN is not set");
    // Passed on to the functions (the Node tests turn the warm cache off,
    // since they assert that a CI write takes effect at once).
    let ttl = std::env::var("LIVESHIP_CACHE_TTL_SECONDS").unwrap_or_else(|_| "5".into());
    let extra = [("LIVESHIP_CACHE_TTL_SECONDS", ttl.as_str())];
    let server = liveship_tests::Server::start_lambda_with_admin(&moto, &extra, &admin);
    println!(
        "liveship listening on {} (Lambda functions on moto)",
        server.url
    );
    std::io::stdout().flush().expect("stdout");
    // Serve until the parent closes our stdin (or dies).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(server);
}

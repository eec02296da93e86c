# The two commands of the README.
.PHONY: run test check bench fuzz bundle

# Build and open the desktop app (a demo workspace until a number is connected).
run:
	scripts/setup.sh
	cargo run -p coexist-app

# Every test: lints, unit, CLI and loopback tests, the real window under Xvfb.
test:
	scripts/test.sh

# The daily loop for developers, in a few minutes: formatting, lints, the core's tests.
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test -p coexist-core -p coexist-sim

# The benchmarks (release build): history apply rate, webhook intake latency, sending pace,
# billing, inbox queries, and the app's startup and memory on a 1M-message mirror (under Xvfb).
bench:
	cargo bench -p coexist-core --bench history_apply
	cargo bench -p coexist-core --bench intake_latency
	cargo bench -p coexist-core --bench send_rate
	cargo bench -p coexist-core --bench billing_report
	cargo bench -p coexist-core --bench mirror_queries
	xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- cargo bench -p coexist-app --bench startup

# The long fuzz pass over the webhook parser and applier: 10 million mutated bodies.
fuzz:
	cargo bench -p coexist-core --bench fuzz_webhooks -- 10000000

# The installable package (.deb here; the same config makes Windows and macOS installers there).
bundle:
	scripts/bundle.sh

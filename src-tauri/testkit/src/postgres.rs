//! A real, throwaway PostgreSQL server for the store tests: Debian's `postgresql` package, a
//! cluster in a temporary directory owned by an unprivileged user (PostgreSQL refuses to run as
//! root, and CI runs as root), listening on a free loopback port, stopped when dropped. One
//! server per test process; each test gets its own database from [`fresh_database`].
//!
//! `COEXIST_TEST_POSTGRES` (a `postgres://` URL) points the tests at a server already running
//! instead, e.g. one started by hand to watch what the tests do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The user the cluster runs as when the tests run as root (Debian's package creates it).
const UNPRIVILEGED: &str = "postgres";
/// The cluster's superuser (trust authentication on loopback only).
const SUPERUSER: &str = "coexist";

pub struct TempPostgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    as_user: Option<&'static str>,
}

/// The newest PostgreSQL installed by Debian's packages (`/usr/lib/postgresql/<major>/bin`).
fn pg_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut majors: Vec<u32> = std::fs::read_dir(root)
        .unwrap_or_else(|e| {
            panic!("PostgreSQL is not installed ({e}): apt-get install postgresql (scripts/setup.sh does)")
        })
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    majors.sort();
    let major = majors.last().expect("a PostgreSQL version under /usr/lib/postgresql");
    root.join(major.to_string()).join("bin")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl TempPostgres {
    /// initdb, then start the server and wait until it accepts connections.
    pub fn start() -> TempPostgres {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "coexist-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let as_user = is_root().then_some(UNPRIVILEGED);
        if let Some(user) = as_user {
            let ok = Command::new("chown").arg(format!("{user}:")).arg(&dir).status();
            assert!(
                ok.is_ok_and(|s| s.success()),
                "could not give {} to {user}",
                dir.display()
            );
        }
        let pg = TempPostgres {
            bin: pg_bin(),
            port: free_port(),
            dir,
            as_user,
        };
        let data = pg.dir.join("data");
        pg.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        // fsync off: a test kills Coexist's processes, never the machine, so the OS keeps
        // every write PostgreSQL made; the cluster is thrown away afterwards.
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200",
            pg.port,
            pg.dir.display()
        );
        pg.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &pg.dir.join("server.log").display().to_string(),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        );
        pg
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        // The cluster's directory is the only place it may write; `cd` there so a tool run as
        // another user does not trip over the caller's working directory.
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{tool} could not run: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The server's maintenance database, as the superuser.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port)
    }
}

/// Stops the cluster in `dir` at once and removes it.
fn stop(dir: &Path, bin: &Path, as_user: Option<&str>) {
    let data = dir.join("data").display().to_string();
    let exe = bin.join("pg_ctl");
    let mut cmd = match as_user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    let _ = cmd
        .args(["-D", &data, "-m", "immediate", "-w", "stop"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(dir);
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        stop(&self.dir, &self.bin, self.as_user);
    }
}

/// The server this test process uses: `COEXIST_TEST_POSTGRES`, or one started on first use. A
/// static is never dropped, so a watcher (a shell waiting for this process to end) stops it.
// The watcher is meant to outlive this process: nobody waits for it.
#[allow(clippy::zombie_processes)]
pub fn server_url() -> String {
    if let Ok(url) = std::env::var("COEXIST_TEST_POSTGRES") {
        if !url.is_empty() {
            return url;
        }
    }
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let pg = std::mem::ManuallyDrop::new(TempPostgres::start());
            let stop = match pg.as_user {
                Some(user) => format!("runuser -u {user} -- "),
                None => String::new(),
            };
            let script = format!(
                "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop}'{ctl}' -D '{dir}/data' -m immediate -w stop; rm -rf '{dir}'",
                pid = std::process::id(),
                ctl = pg.bin.join("pg_ctl").display(),
                dir = pg.dir.display(),
            );
            Command::new("sh")
                .args(["-c", &script])
                .current_dir(&pg.dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the server's watcher starts");
            pg.url()
        })
        .clone()
}

/// A new, empty database on the test server, for one test; returns its URL.
pub fn fresh_database(name_hint: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let server = server_url();
    let name: String = format!(
        "t_{}_{}_{}",
        name_hint
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(24)
            .collect::<String>()
            .to_lowercase(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let out = Command::new("psql")
        .args([
            &server,
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql runs (package postgresql-client)");
    assert!(
        out.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b).to_string();
    format!("{base}/{name}")
}

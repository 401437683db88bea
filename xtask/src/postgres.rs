//! The PostgreSQL the tests use: `TEST_DATABASE_URL` when set, the server on 127.0.0.1:5432
//! when one answers there, otherwise a private one started from the installed server binaries
//! (`initdb`, `pg_ctl`) in `target/xtask/postgres`, on a free port with trust authentication
//! on loopback only, and stopped when the tests end. `XTASK_PRIVATE_POSTGRES=1` asks for the
//! private server even when one answers on 5432.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::{root, run};

/// The database of a test run; a private server stops when this is dropped.
pub(crate) enum TestDatabase {
    /// `TEST_DATABASE_URL` or the default the tests use: nothing to pass on.
    Given,
    Private {
        url: String,
        data: PathBuf,
        pg_ctl: PathBuf,
        user: Option<String>,
    },
}

impl TestDatabase {
    /// The URL to pass to the tests, when it is not their default.
    pub(crate) fn url(&self) -> Option<&str> {
        match self {
            Self::Given => None,
            Self::Private { url, .. } => Some(url),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Private {
            data, pg_ctl, user, ..
        } = self
        {
            let mut stop = as_user(user.as_deref(), pg_ctl);
            stop.arg("stop").arg("-D").arg(&*data).args(["-m", "fast"]);
            let _ = run(&mut stop);
        }
    }
}

/// A command running `program`, as `user` when given (initdb refuses to run as root).
fn as_user(user: Option<&str>, program: &PathBuf) -> Command {
    match user {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// The database for this test run; see the module documentation.
pub(crate) fn for_tests() -> Result<TestDatabase, String> {
    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        return Ok(TestDatabase::Given);
    }
    let default = SocketAddr::from((Ipv4Addr::LOCALHOST, 5432));
    let private_asked = std::env::var_os("XTASK_PRIVATE_POSTGRES").is_some_and(|v| v == "1");
    if !private_asked && TcpStream::connect_timeout(&default, Duration::from_secs(1)).is_ok() {
        return Ok(TestDatabase::Given);
    }
    let bin = crate::tools::postgres_bin().ok_or(
        "no PostgreSQL answers on 127.0.0.1:5432, TEST_DATABASE_URL is unset, and no PostgreSQL \
         server binaries (initdb, pg_ctl) are installed to start one: install them \
         (apt-get install postgresql) or point TEST_DATABASE_URL at a server",
    )?;
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    // As root, the server runs as the `postgres` account Debian's package creates.
    let user = root_user.then(|| "postgres".to_owned());
    let base = root().join("target/xtask/postgres");
    let data = base.join("data");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).map_err(|err| format!("{}: {err}", base.display()))?;
    if let Some(user) = &user {
        run(Command::new("chown").arg(user).arg(&base))?;
    }
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(|err| format!("finding a free port: {err}"))?
        .port();
    let mut initdb = as_user(user.as_deref(), &bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-A", "trust", "--no-sync"]);
    run(&mut initdb)?;
    let pg_ctl = bin.join("pg_ctl");
    let mut start = as_user(user.as_deref(), &pg_ctl);
    start
        .arg("start")
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(base.join("server.log"))
        .arg("-w")
        .arg("-o")
        .arg(format!(
            "-h 127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=400",
            base.display()
        ));
    run(&mut start)?;
    eprintln!("xtask: a private PostgreSQL runs on 127.0.0.1:{port} for these tests");
    Ok(TestDatabase::Private {
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        data,
        pg_ctl,
        user,
    })
}

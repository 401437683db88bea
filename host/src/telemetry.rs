//! Logging: compact human-readable logs by default, JSON with `LOG_FORMAT=json`; the level
//! comes from `LOG_LEVEL` (an `EnvFilter` directive such as `info` or `storeplane=debug`).
//! Logs go to stderr so command output on stdout stays machine-readable.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `level` and `json` come from the configuration.
pub fn init(level: &str, json: bool) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
    // Already installed (tests call this more than once): keep the first.
    drop(result);
}

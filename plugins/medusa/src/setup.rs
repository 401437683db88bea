//! Post-install steps, run by the host with exec in the Medusa pod's setup sidecar (the
//! server's own container has no memory to spare for a second copy of the application).
//!
//! Each step is idempotent and fails on error. The admin password never appears in a command:
//! the image's `create-admin` script reads `MEDUSA_ADMIN_PASSWORD` from the container
//! environment (set from the credentials Secret by the chart).

use storeplane_sdk::{SetupStep, ShellScript, Step, StoreSpec, shell_quote};

use crate::SETUP_CONTAINER;
use crate::options::Options;

/// One step in the setup sidecar of the store's Medusa pod.
fn medusa_step(
    spec: &StoreSpec,
    name: &str,
    description: &str,
    script: ShellScript,
    timeout: u32,
    attempts: u32,
) -> SetupStep {
    let selector = [
        ("app.kubernetes.io/name", "medusa"),
        ("app.kubernetes.io/instance", spec.store_id.as_str()),
    ];
    Step::new(name, description)
        .in_container(&selector, SETUP_CONTAINER)
        .script(script)
        .timeout_seconds(timeout)
        .attempts(attempts)
        .build()
}

/// What brings a store from an older version of this engine to this one, whatever it was:
/// Medusa's migrations for the server this version runs (a no-op when the database is
/// current).
pub fn upgrade_steps(spec: &StoreSpec) -> Vec<SetupStep> {
    vec![medusa_step(
        spec,
        "migrate-database",
        "Run the new version's database migrations (medusa db:migrate)",
        ShellScript::new().line("npx --no-install medusa db:migrate"),
        600,
        3,
    )]
}

pub fn steps(spec: &StoreSpec, options: &Options) -> Vec<SetupStep> {
    let step = |name: &str, description: &str, script: ShellScript, timeout: u32, attempts: u32| {
        medusa_step(spec, name, description, script, timeout, attempts)
    };
    vec![
        step(
            "wait-health",
            "Wait until the Medusa server answers /health",
            ShellScript::new().line(
                "i=0; until wget -q -O /dev/null http://127.0.0.1:9000/health; do \
                 i=$((i+1)); [ \"$i\" -lt 90 ] || { echo 'Medusa /health did not answer' >&2; exit 1; }; \
                 sleep 2; done",
            ),
            200,
            2,
        ),
        step(
            "migrate-database",
            "Run the database migrations (medusa db:migrate)",
            ShellScript::new().line("npx --no-install medusa db:migrate"),
            600,
            3,
        ),
        step(
            "create-admin",
            "Create the admin user (skipped when it exists)",
            ShellScript::new().line("npx --no-install medusa exec ./src/scripts/create-admin.js"),
            180,
            3,
        ),
        step(
            "configure-store",
            "Name the store, create its default region and, if asked, a sample product (idempotent)",
            ShellScript::new().line(format!(
                "STORE_TITLE={} STORE_CURRENCY={} STORE_COUNTRY={} SAMPLE_PRODUCT={} \
                 npx --no-install medusa exec ./src/scripts/configure-store.js",
                shell_quote(&options.store_title),
                shell_quote(&options.currency),
                shell_quote(&options.country),
                if options.sample_data { "true" } else { "false" },
            )),
            300,
            3,
        ),
    ]
}

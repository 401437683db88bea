//! A guest that misbehaves on request: `options.behaviour` (loop, memory, panic, oversized,
//! chatty, printing, refuse) selects what `plan` does, so one
//! component exercises every sandbox limit. With `{}` it plans normally (so it can load and pass
//! validation like any engine).
#![allow(unsafe_code)] // export! emits the ABI glue

use storeplane_sdk::serde_json::{Value, json};
use storeplane_sdk::{
    ChartSource, DeploymentPlan, EndpointKind, Engine, EngineInfo, PlanError, StoreSpec, endpoint,
    exec_grant,
};

struct Misbehave;

impl Engine for Misbehave {
    fn describe() -> EngineInfo {
        EngineInfo {
            id: "misbehave".into(),
            display_name: "Misbehaving test engine".into(),
            version: "1.0.0".into(),
            description: "Loops, bombs memory, panics or floods output on request.".into(),
            options_schema:
                r#"{"type":"object","properties":{"behaviour":{"type":"string","default":"ok"}}}"#
                    .into(),
            secrets: vec![],
            chart: ChartSource::Bundled("ecommerce-store".into()),
            exec: vec![exec_grant("app", &["sh"])],
        }
    }

    fn plan(spec: StoreSpec) -> Result<DeploymentPlan, PlanError> {
        let options: Value =
            storeplane_sdk::serde_json::from_str(&spec.options).unwrap_or(Value::Null);
        let values = match options
            .get("behaviour")
            .and_then(Value::as_str)
            .unwrap_or("ok")
        {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("the shop is on fire (misbehave guest)"),
            "oversized" => json!({ "blob": "x".repeat(8 << 20) }).to_string(),
            "chatty" => {
                for line in 0..2000 {
                    eprintln!("diagnostic line {line}: {}", "noise ".repeat(10));
                }
                json!({ "storeId": spec.store_id }).to_string()
            }
            "printing" => {
                // What an author debugging a plan writes, a terminal escape sequence, and text
                // reversed by bidirectional overrides.
                #[expect(clippy::print_stdout, reason = "printing is what this behaviour tests")]
                {
                    println!("planning store {}", spec.store_id);
                }
                eprintln!("\u{1b}[31mred on the author's terminal\u{1b}[0m");
                eprintln!("[PASS] \u{202e}deif\u{2066}i\u{2069}ton");
                json!({ "storeId": spec.store_id }).to_string()
            }
            "refuse" => return Err(PlanError::InvalidOptions("behaviour=refuse".into())),
            _ => json!({ "storeId": spec.store_id }).to_string(),
        };
        Ok(DeploymentPlan {
            values,
            setup: vec![],
            endpoints: vec![endpoint(&spec, EndpointKind::Storefront, "Shop", "/")],
            ready_when: vec![],
            admin_login: None,
        })
    }
}

impl storeplane_sdk::Lifecycle for Misbehave {
    // Nothing to migrate between versions of this test engine.
    fn upgrade_steps(
        _from_version: String,
        _spec: storeplane_sdk::StoreSpec,
    ) -> Result<Vec<storeplane_sdk::SetupStep>, storeplane_sdk::PlanError> {
        Ok(vec![])
    }
}

storeplane_sdk::export!(Misbehave);

//! Builds the purpose-built guest components of the sandbox tests for wasm32-wasip2.

use storeplane_wasm_build::{ComponentCrate, build_components};

fn main() {
    build_components(
        &[
            ComponentCrate {
                package: "guest-hostile",
                dir: "tests/guests/hostile",
            },
            ComponentCrate {
                package: "guest-medusa-upgrade",
                dir: "tests/guests/medusa-upgrade",
            },
            ComponentCrate {
                package: "guest-misbehave",
                dir: "tests/guests/misbehave",
            },
            ComponentCrate {
                package: "guest-prestashop-upgrade",
                dir: "tests/guests/prestashop-upgrade",
            },
            ComponentCrate {
                package: "guest-sloppy",
                dir: "tests/guests/sloppy",
            },
            ComponentCrate {
                package: "guest-swap-v1",
                dir: "tests/guests/swap-v1",
            },
            ComponentCrate {
                package: "guest-swap-v2",
                dir: "tests/guests/swap-v2",
            },
            ComponentCrate {
                package: "guest-v1-0-plain",
                dir: "tests/guests/v1-0-plain",
            },
            ComponentCrate {
                package: "guest-v1-1-lifecycle",
                dir: "tests/guests/v1-1-lifecycle",
            },
            ComponentCrate {
                package: "guest-v1-1-plain",
                dir: "tests/guests/v1-1-plain",
            },
            ComponentCrate {
                package: "guest-wit-v2",
                dir: "tests/guests/wit-v2",
            },
            ComponentCrate {
                package: "guest-woo-next",
                dir: "tests/guests/woo-next",
            },
            ComponentCrate {
                package: "guest-woo-upgrade",
                dir: "tests/guests/woo-upgrade",
            },
        ],
        &[
            "plugins/sdk",
            "plugins/woocommerce",
            "plugins/medusa",
            "plugins/prestashop",
            "wit",
            "tests/guests/swap-common.rs",
            "tests/guests/raw-engine-common.rs",
            "tests/guests/next-release-common.rs",
        ],
    );
}

//! Packages `chart/` into `$OUT_DIR/chart.tgz`, which `src/lib.rs` embeds.

fn main() {
    storeplane_wasm_build::chart::package_chart_for_build("chart", "prestashop");
}

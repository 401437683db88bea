//! Packages `chart/` into `$OUT_DIR/chart.tgz` with the SDK's build helper.

fn main() {
    storeplane_wasm_build::chart::package_chart_for_build("chart", "hostile");
}

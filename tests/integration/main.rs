//! storeplane's one integration-test binary. Each module covers one user-visible area.

// Tests panic on unexpected results by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod browser;
mod builtin_engines;
mod control_plane_chart;
mod db_story;
mod docs;
mod hot_swap;
mod hotload;
mod house_rules;
mod medusa_server;
mod migrations;
mod network_policies;
mod plugin_cache;
mod plugin_check;
mod provisioning;
mod sandbox;
mod scaffold;
mod wit_versions;

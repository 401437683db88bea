//! The REST API through a real server, on SQLite and on PostgreSQL.

mod auth;
mod basics;
mod concurrency;
mod contract;
mod isolation;
mod plugins;
mod stores;
mod users;

//! Multi-threaded workloads. (Being written: every function is still a placeholder.)

use crate::common::{Config, Outcome};

pub fn larson(_: &Config) -> Outcome { Outcome::default() }
pub fn producer_consumer(_: &Config) -> Outcome { Outcome::default() }
pub fn thread_churn(_: &Config) -> Outcome { Outcome::default() }
pub fn false_sharing(_: &Config) -> Outcome { Outcome::default() }
pub fn scaling(_: &Config) -> Outcome { Outcome::default() }

//! Single-threaded workloads. (Being written: every function is still a placeholder.)

use crate::common::{Config, Outcome};

pub fn tiny_hot(_: &Config) -> Outcome { Outcome::default() }
pub fn random_mixed(_: &Config) -> Outcome { Outcome::default() }
pub fn json(_: &Config) -> Outcome { Outcome::default() }
pub fn mir(_: &Config) -> Outcome { Outcome::default() }
pub fn vm(_: &Config) -> Outcome { Outcome::default() }
pub fn realloc_growth(_: &Config) -> Outcome { Outcome::default() }
pub fn fragmentation(_: &Config) -> Outcome { Outcome::default() }
pub fn big_mix(_: &Config) -> Outcome { Outcome::default() }

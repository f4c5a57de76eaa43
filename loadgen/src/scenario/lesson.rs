//! The curriculum: the modules a lesson belongs to (`module = "producer"` in a scenario
//! file), in the order a learner walks them.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::suggest;

/// A module of the curriculum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Module {
    Producer,
    Groups,
    Delivery,
    Storage,
    Replication,
    Cluster,
    Security,
}

impl Module {
    /// In curriculum order.
    pub const ALL: &'static [Module] = &[
        Module::Producer,
        Module::Groups,
        Module::Delivery,
        Module::Storage,
        Module::Replication,
        Module::Cluster,
        Module::Security,
    ];

    /// As written in a scenario file.
    pub fn as_str(self) -> &'static str {
        match self {
            Module::Producer => "producer",
            Module::Groups => "groups",
            Module::Delivery => "delivery",
            Module::Storage => "storage",
            Module::Replication => "replication",
            Module::Cluster => "cluster",
            Module::Security => "security",
        }
    }

    /// The module's title in listings.
    pub fn title(self) -> &'static str {
        match self {
            Module::Producer => "Producer",
            Module::Groups => "Consumers & groups",
            Module::Delivery => "Offsets & delivery",
            Module::Storage => "Topics & storage",
            Module::Replication => "Replication & durability",
            Module::Cluster => "Cluster",
            Module::Security => "Security",
        }
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Module {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Module::ALL
            .iter()
            .copied()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                let names = Module::ALL.iter().map(|m| m.as_str());
                format!(
                    "unknown module \"{s}\"{} (expected one of: {})",
                    suggest::did_you_mean(s, names.clone()),
                    names.collect::<Vec<_>>().join(", ")
                )
            })
    }
}

impl<'de> Deserialize<'de> for Module {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl Serialize for Module {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_misspellings_are_explained() {
        for m in Module::ALL {
            assert_eq!(m.as_str().parse::<Module>(), Ok(*m));
        }
        let e = "grups".parse::<Module>().unwrap_err();
        assert!(e.contains("did you mean 'groups'"), "{e}");
        assert!(e.contains("producer, groups, delivery"), "{e}");
    }
}

//! One page of a Stripe list, objects kept as raw JSON.

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Debug, Deserialize)]
pub struct Page {
    pub data: Vec<Box<RawValue>>,
    #[serde(default)]
    pub has_more: bool,
}

impl Page {
    /// The id of the last object, the `starting_after` of the next page.
    pub fn last_id(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        let last = self.data.last()?;
        serde_json::from_str::<Id>(last.get()).ok().map(|o| o.id)
    }
}

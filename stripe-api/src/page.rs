//! One page of a Stripe list, objects kept as raw JSON, and the walk from
//! page to page that cannot run away.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::ApiError;

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

/// Following one list endpoint's cursor. Stripe's cursor is the last
/// object's id, so a list that claims more but answers an empty page, or a
/// page ending where an earlier one ended (the same page again, or a
/// cycle), would be asked for the same thing forever, at the rate limit.
/// Every cursor a walk has used is remembered (one id per page), and such
/// a page is refused before anything is written from it.
pub struct Walk {
    endpoint: String,
    after: Option<String>,
    seen: HashSet<String>,
}

impl Walk {
    /// A walk of `path` (`/customers`), from the beginning or, resuming,
    /// after `after`.
    pub fn new(path: &str, after: Option<String>) -> Self {
        Self {
            endpoint: format!("/v1{path}"),
            seen: after.iter().cloned().collect(),
            after,
        }
    }

    /// The `starting_after` of the next request.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// Checks that `page`, the answer to the request after [`Walk::after`],
    /// moves on, and moves the cursor past it. `Ok(true)` when more pages
    /// follow; `ApiError::Stuck` naming the endpoint when it does not move.
    pub fn advance(&mut self, page: &Page) -> Result<bool, ApiError> {
        if !page.has_more {
            if let Some(last) = page.last_id() {
                self.after = Some(last);
            }
            return Ok(false);
        }
        let stuck = |why: String| ApiError::Stuck {
            endpoint: self.endpoint.clone(),
            why,
            after: self.after.clone(),
        };
        let last = match page.last_id() {
            Some(last) => last,
            None if page.data.is_empty() => {
                return Err(stuck("an empty page claims more (has_more)".into()));
            }
            None => return Err(stuck("the last object of a page has no id".into())),
        };
        if !self.seen.insert(last.clone()) {
            return Err(stuck(format!("a page ends at {last} again")));
        }
        self.after = Some(last);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ids: &[&str], has_more: bool) -> Page {
        let data: Vec<String> = ids.iter().map(|id| format!(r#"{{"id":"{id}"}}"#)).collect();
        serde_json::from_str(&format!(
            r#"{{"data":[{}],"has_more":{has_more}}}"#,
            data.join(",")
        ))
        .unwrap()
    }

    #[test]
    fn a_list_that_moves_on_is_walked_to_its_end() {
        let mut walk = Walk::new("/customers", None);
        assert!(walk.advance(&page(&["a", "b"], true)).unwrap());
        assert_eq!(walk.after(), Some("b"));
        assert!(walk.advance(&page(&["c"], true)).unwrap());
        assert!(!walk.advance(&page(&[], false)).unwrap());
        assert_eq!(walk.after(), Some("c"));
    }

    #[test]
    fn the_same_page_again_is_refused_naming_the_endpoint() {
        let mut walk = Walk::new("/customers", None);
        walk.advance(&page(&["a", "b"], true)).unwrap();
        let error = walk.advance(&page(&["a", "b"], true)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "GET /v1/customers does not advance (a page ends at b again); \
             stopped with the cursor at starting_after=b"
        );
        assert_eq!(walk.after(), Some("b"), "the cursor is kept");
    }

    #[test]
    fn a_cycle_and_a_resumed_cursor_count_as_seen() {
        let mut walk = Walk::new("/events", Some("b".into()));
        walk.advance(&page(&["c", "d"], true)).unwrap();
        assert!(walk.advance(&page(&["a", "b"], true)).is_err());
    }

    #[test]
    fn an_empty_page_that_claims_more_is_refused() {
        let mut walk = Walk::new("/events", Some("x".into()));
        let error = walk.advance(&page(&[], true)).unwrap_err();
        assert!(error.to_string().contains("GET /v1/events"), "{error}");
        assert!(error.to_string().contains("empty page"), "{error}");
        assert_eq!(walk.after(), Some("x"));
    }
}

//! `balance first`: the lowest server `id` with a free connection slot (HAProxy `balance first`,
//! reference §2.5). Weight is ignored beyond eligibility; the algorithm only makes sense with
//! `maxconn` on the servers. Owns no state.

use super::{ServerView, full_last};

/// Ordered candidates among `eligible`: by `id`, servers at `maxconn` last.
pub fn select(servers: &[ServerView], eligible: &[usize]) -> Vec<usize> {
    let mut order = eligible.to_vec();
    order.sort_by_key(|&i| (servers[i].id, i));
    full_last(servers, &mut order);
    order
}

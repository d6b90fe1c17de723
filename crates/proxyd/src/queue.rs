//! Per-server and per-backend wait queues for connections that found every eligible server at
//! `maxconn` (HAProxy's pendconn queues).
//!
//! Owns FIFO order, `maxqueue` and handing a freed slot to the oldest waiter. It must not pick
//! servers (that is `lbcore::balance`) nor do socket I/O.

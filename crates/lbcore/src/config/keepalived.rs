//! keepalived.conf front end. SKELETON: being written.

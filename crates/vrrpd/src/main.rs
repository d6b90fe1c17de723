//! vrrpd entry point. SKELETON: being written.
fn main() {}

//! System-test harness. SKELETON: being written.

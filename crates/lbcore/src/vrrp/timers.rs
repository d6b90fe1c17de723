//! VRRP timers (RFC 3768 §6.1, RFC 5798 / RFC 9568 §6.1). SKELETON: being written.

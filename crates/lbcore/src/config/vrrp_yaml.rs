//! YAML front end for the vrrpd model. SKELETON: being written.

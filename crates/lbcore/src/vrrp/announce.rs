//! Gratuitous ARP and unsolicited Neighbour Advertisement frames. SKELETON: being written.

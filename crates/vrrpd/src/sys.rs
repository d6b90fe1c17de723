//! The few system calls that neither `socket2` nor `nix` wrap, behind small safe functions.
//!
//! Owns: every `unsafe` block of vrrpd (integer socket options, `ip_mreqn`, `sockaddr_ll`,
//! reactor registration, `openlog`/`syslog`, `pidfd_open`, `poll`, the `PR_SET_PDEATHSIG` exec hook). Must not: hold state or make policy decisions; callers decide what to set.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use socket2::{SockAddr, Socket};
use tokio::io::unix::AsyncFd;

/// `setsockopt(fd, level, name, &value, sizeof(int))` for an integer option.
pub fn setsockopt_int(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `fd` is a valid open descriptor for the duration of the borrow; the option value
    // points at a live `c_int` and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast::<libc::c_void>(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `IPV6_CHECKSUM`: with an `offset` >= 0 the kernel computes (send) and verifies (receive, dropping
/// failures silently) the checksum at `offset` including the IPv6 pseudo-header (RFC 8200 §8.1);
/// -1 turns both off.
pub fn set_ipv6_checksum(fd: BorrowedFd<'_>, offset: i32) -> io::Result<()> {
    setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_CHECKSUM, offset)
}

/// `IP_MTU_DISCOVER = IP_PMTUDISC_DONT`: no DF bit on adverts, as keepalived sends them.
pub fn set_no_df_v4(fd: BorrowedFd<'_>) -> io::Result<()> {
    setsockopt_int(
        fd,
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_DONT,
    )
}

/// `IP_MULTICAST_IF` with an `ip_mreqn` naming the interface by index (no address needed).
pub fn set_multicast_if_index_v4(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    let mreq = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: i32::try_from(ifindex)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
    };
    // SAFETY: valid fd for the borrow; `mreq` is a live `ip_mreqn` and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&raw const mreq).cast::<libc::c_void>(),
            size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A `sockaddr_ll` for an `AF_PACKET` socket: interface `ifindex`, EtherType `protocol` (host
/// order), destination hardware address `dst`.
pub fn packet_sockaddr(ifindex: u32, protocol: u16, dst: [u8; 6]) -> io::Result<SockAddr> {
    let ifindex =
        i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `try_init` hands us zeroed storage large enough for any socket address; we write a
    // `sockaddr_ll` (smaller than `sockaddr_storage`) into it and report exactly its size.
    let ((), addr) = unsafe {
        SockAddr::try_init(|storage, len| {
            let ll = storage.cast::<libc::sockaddr_ll>();
            let mut sll_addr = [0u8; 8];
            sll_addr[..6].copy_from_slice(&dst);
            ll.write(libc::sockaddr_ll {
                sll_family: libc::AF_PACKET as u16,
                sll_protocol: protocol.to_be(),
                sll_ifindex: ifindex,
                sll_hatype: 0,
                sll_pkttype: 0,
                sll_halen: 6,
                sll_addr,
            });
            *len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            Ok(())
        })
    }?;
    Ok(addr)
}

/// Registers an owned socket with the tokio reactor.
pub fn async_socket(sock: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: `Socket` owns its descriptor: it stays open and refers to the same description
    // until the `AsyncFd` (which takes ownership) is dropped, and `as_raw_fd` always returns it.
    unsafe { AsyncFd::register(sock) }.map_err(io::Error::from)
}

/// `openlog(ident, LOG_PID | LOG_NDELAY, facility)`. `ident` must live for the whole process
/// (glibc keeps the pointer), hence `'static`.
pub fn openlog(ident: &'static CStr, facility: libc::c_int) {
    // SAFETY: `ident` is a NUL-terminated string that outlives every later `syslog` call.
    unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID | libc::LOG_NDELAY, facility) }
}

/// `syslog(priority, "%s", message)`.
pub fn syslog(priority: libc::c_int, message: &CStr) {
    // SAFETY: a constant "%s" format with exactly one NUL-terminated string argument.
    unsafe { libc::syslog(priority, c"%s".as_ptr(), message.as_ptr()) }
}

/// `pidfd_open(pid, 0)`: a descriptor that polls readable once process `pid` has exited (Linux
/// 5.3+). `ESRCH` when no such process exists.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a plain system call with two integer arguments; it touches no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(rc).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Registers a pidfd (or any owned descriptor) with the tokio reactor.
pub fn async_owned_fd(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `OwnedFd` owns its descriptor: it stays open and refers to the same description
    // until the `AsyncFd` (which takes ownership) is dropped, and `as_raw_fd` always returns it.
    unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)
}

/// Whether `fd` is readable right now (`poll` with a zero timeout); errors count as not.
pub fn poll_readable(fd: BorrowedFd<'_>) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live `pollfd` for a descriptor valid for the borrow, count 1, no wait.
    let n = unsafe { libc::poll(&raw mut p, 1, 0) };
    n > 0 && p.revents & libc::POLLIN != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_sockaddr_carries_index_and_protocol() {
        let addr = packet_sockaddr(7, 0x0806, [0xff; 6]).expect("sockaddr");
        assert_eq!(addr.family(), libc::AF_PACKET as libc::sa_family_t);
        assert_eq!(addr.len() as usize, size_of::<libc::sockaddr_ll>());
        // SAFETY: the storage was written as a `sockaddr_ll` above.
        #[allow(unsafe_code)]
        let ll = unsafe { &*addr.as_ptr().cast::<libc::sockaddr_ll>() };
        assert_eq!(ll.sll_ifindex, 7);
        assert_eq!(u16::from_be(ll.sll_protocol), 0x0806);
        assert_eq!(&ll.sll_addr[..6], &[0xff; 6]);
    }

    #[test]
    fn pidfd_of_ourselves_opens_and_of_no_process_fails() {
        assert!(pidfd_open(std::process::id()).is_ok());
        // pid_max is at most 2^22 on Linux, so this pid cannot exist.
        let err = pidfd_open(1 << 23).expect_err("no such process");
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
    }

    #[test]
    fn integer_option_errors_on_a_non_socket() {
        let file = std::fs::File::open("/dev/null").expect("open /dev/null");
        use std::os::fd::AsFd;
        let err = set_ipv6_checksum(file.as_fd(), 6).expect_err("not a socket");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTSOCK));
    }
}

/// An inotify instance the tokio reactor can wait on (nix's `Inotify` is `AsFd` only).
#[derive(Debug)]
pub struct InotifyFd(pub nix::sys::inotify::Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

/// Registers an owned inotify instance (opened with `IN_NONBLOCK`) with the tokio reactor.
pub fn async_inotify(ino: nix::sys::inotify::Inotify) -> io::Result<AsyncFd<InotifyFd>> {
    // SAFETY: `Inotify` owns its descriptor (an `OwnedFd`): it stays open and refers to the same
    // description until the `AsyncFd` (which takes ownership) is dropped, and `as_raw_fd` always
    // returns it.
    unsafe { AsyncFd::register(InotifyFd(ino)) }.map_err(io::Error::from)
}

/// Makes the child of `cmd` receive SIGTERM when the thread that spawned it dies
/// (`PR_SET_PDEATHSIG`, as keepalived sets on its scripts), so a script never outlives a crashed
/// vrrpd. Spawn from a runtime worker thread, which lives as long as the daemon: a blocking-pool
/// thread may exit while the child still runs.
pub fn term_on_parent_death(cmd: &mut tokio::process::Command) {
    // SAFETY: the hook runs between fork and exec and only calls prctl(2), which is
    // async-signal-safe; it touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(io::Error::from)
        });
    }
}

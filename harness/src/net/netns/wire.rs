//! A user-space link with delay, jitter, loss and a rate limit, between two TAP devices.
//!
//! The kernels of this machine kind are built without `sch_netem` (`tc qdisc add … netem` answers
//! "Specified qdisc kind is unknown"), so an impaired peer's access link is not a veth pair but two
//! TAP devices, one in each namespace, joined by a thread that copies Ethernet frames between them
//! and holds each frame back as the current [`Impairment`] says. The impairment applies to both
//! directions (a round trip gains twice the delay) and can change at any time. Frames keep their
//! order (jitter never reorders). Closing the TAP file descriptors removes both devices, so a
//! crashed harness leaves none behind.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Impairment, NetNs};

/// Frames queued per direction before new ones are dropped (a router's buffer).
const QUEUE_LIMIT: usize = 1000;

/// The copying thread of one impaired link; dropping it stops the thread and removes both TAPs.
pub(super) struct Wire {
    params: Arc<Mutex<Impairment>>,
    wake: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

impl Wire {
    /// Creates TAP `a_name` in `a` and TAP `b_name` in `b`, and starts copying between them.
    /// The devices still need addresses and `ip link set … up`.
    pub(super) fn create(
        a: &NetNs,
        a_name: &str,
        b: &NetNs,
        b_name: &str,
        impairment: Impairment,
    ) -> io::Result<Wire> {
        let tap_a = open_tap(a, a_name)?;
        let tap_b = open_tap(b, b_name)?;
        // SAFETY: eventfd has no preconditions; the result is checked.
        let wake = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if wake < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd that nothing else owns.
        let wake = unsafe { OwnedFd::from_raw_fd(wake) };
        let params = Arc::new(Mutex::new(impairment));
        let thread = {
            let params = params.clone();
            let wake = wake.try_clone()?;
            std::thread::Builder::new()
                .name(format!("wire {a_name}"))
                .spawn(move || copy_loop(tap_a, tap_b, wake, params))?
        };
        Ok(Wire {
            params,
            wake,
            thread: Some(thread),
        })
    }

    /// Changes the impairment for frames that arrive from now on.
    pub(super) fn set(&self, impairment: Impairment) {
        *self.params.lock().unwrap() = impairment;
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to an eventfd we own.
        unsafe {
            libc::write(
                self.wake.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            );
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Creates a TAP device called `name` inside `ns`; it exists as long as the fd is open.
fn open_tap(ns: &NetNs, name: &str) -> io::Result<OwnedFd> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {name} is too long"),
        ));
    }
    let name = name.to_string();
    let ns_name = ns.name().to_string();
    ns.run(move || {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open /dev/net/tun: {e}")))?;
        let fd = OwnedFd::from(file);
        // SAFETY: an all-zero ifreq is valid; the name fits (checked above) and stays NUL-ended.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in request.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads an ifreq, which lives until the call returns.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut request) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("cannot create TAP {name} in {ns_name}: {e}"),
            ));
        }
        set_nonblocking(fd.as_raw_fd())?;
        Ok(fd)
    })?
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One direction of the link: frames waiting for their departure time.
struct Direction {
    queue: VecDeque<(Instant, Vec<u8>)>,
    /// When the last queued frame leaves (frames never overtake each other).
    last_due: Instant,
    /// When the rate limiter has finished sending the frames so far.
    link_free: Instant,
}

impl Direction {
    fn new(now: Instant) -> Direction {
        Direction {
            queue: VecDeque::new(),
            last_due: now,
            link_free: now,
        }
    }

    fn admit(&mut self, frame: Vec<u8>, p: &Impairment, rng: &mut Rng, now: Instant) {
        if p.loss_percent > 0.0 && rng.unit() * 100.0 < p.loss_percent {
            return;
        }
        if self.queue.len() >= QUEUE_LIMIT {
            return;
        }
        let mut depart = now;
        if let Some(rate) = p.rate_bits_per_sec.filter(|r| *r > 0) {
            let bits = frame.len() as f64 * 8.0;
            self.link_free = self.link_free.max(now) + Duration::from_secs_f64(bits / rate as f64);
            depart = self.link_free;
        }
        let mut delay = p.delay.as_secs_f64();
        if !p.jitter.is_zero() {
            delay += (rng.unit() * 2.0 - 1.0) * p.jitter.as_secs_f64();
        }
        let due = (depart + Duration::from_secs_f64(delay.max(0.0))).max(self.last_due);
        self.last_due = due;
        self.queue.push_back((due, frame));
    }

    /// Writes every frame that is due; returns when the next one is.
    fn flush(&mut self, out: RawFd, now: Instant) -> Option<Instant> {
        while let Some((due, _)) = self.queue.front() {
            if *due > now {
                return Some(*due);
            }
            let (_, frame) = self.queue.pop_front().unwrap();
            // SAFETY: writes a frame from a live buffer to a TAP fd; a failed write drops the frame.
            unsafe {
                libc::write(out, frame.as_ptr().cast(), frame.len());
            }
        }
        None
    }
}

fn copy_loop(a: OwnedFd, b: OwnedFd, wake: OwnedFd, params: Arc<Mutex<Impairment>>) {
    let mut a_to_b = Direction::new(Instant::now());
    let mut b_to_a = Direction::new(Instant::now());
    let mut rng = Rng::seeded();
    let mut buf = vec![0u8; 65536];
    loop {
        let now = Instant::now();
        let next = [
            a_to_b.flush(b.as_raw_fd(), now),
            b_to_a.flush(a.as_raw_fd(), now),
        ]
        .into_iter()
        .flatten()
        .min();
        let wait = next
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        let timeout = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        let mut fds = [
            libc::pollfd {
                fd: a.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: b.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: three valid pollfds and a valid timespec; no signal mask change.
        let rc = unsafe { libc::ppoll(fds.as_mut_ptr(), 3, &timeout, std::ptr::null()) };
        if rc < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[2].revents != 0 {
            return;
        }
        let p = *params.lock().unwrap();
        let now = Instant::now();
        for (i, direction) in [(0, &mut a_to_b), (1, &mut b_to_a)] {
            if fds[i].revents & libc::POLLIN == 0 {
                continue;
            }
            loop {
                // SAFETY: reads into a live buffer of the given length.
                let n = unsafe { libc::read(fds[i].fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                direction.admit(buf[..n as usize].to_vec(), &p, &mut rng, now);
            }
        }
    }
}

/// xorshift64*: enough randomness for loss and jitter, no dependency.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Rng(nanos | 1)
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_keeps_order_and_loss_drops() {
        let mut rng = Rng::seeded();
        let now = Instant::now();
        let mut d = Direction::new(now);
        let p = Impairment {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(40),
            ..Impairment::default()
        };
        for i in 0..100u8 {
            d.admit(vec![i], &p, &mut rng, now);
        }
        let dues: Vec<Instant> = d.queue.iter().map(|(t, _)| *t).collect();
        assert!(dues.windows(2).all(|w| w[0] <= w[1]));
        assert!(dues.iter().all(|t| *t >= now + Duration::from_millis(10)));

        let mut lossy = Direction::new(now);
        let p = Impairment {
            loss_percent: 100.0,
            ..Impairment::default()
        };
        lossy.admit(vec![1], &p, &mut rng, now);
        assert!(lossy.queue.is_empty());
    }

    #[test]
    fn rate_limit_spaces_frames() {
        let mut rng = Rng::seeded();
        let now = Instant::now();
        let mut d = Direction::new(now);
        let p = Impairment {
            rate_bits_per_sec: Some(8_000),
            ..Impairment::default()
        };
        // 100 bytes at 8 kbit/s take 100 ms each.
        d.admit(vec![0; 100], &p, &mut rng, now);
        d.admit(vec![0; 100], &p, &mut rng, now);
        let dues: Vec<Duration> = d.queue.iter().map(|(t, _)| *t - now).collect();
        assert_eq!(
            dues,
            vec![Duration::from_millis(100), Duration::from_millis(200)]
        );
    }
}
